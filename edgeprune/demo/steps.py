"""The demo's steps, each a plain function of the settings and the previous steps' results
(edgeprune/demo/pipeline.py runs them in order).

The generated data, the trained base, its weight-sharing network and the scratch comparison
are cached under `cache_dir`, keyed by every setting they depend on, so a second demo skips
them.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from edgeprune.atomic import atomic_write_text
from edgeprune.console import escape
from edgeprune.demo.settings import (
    BASE_SETTINGS,
    DATA_SETTINGS,
    SCRATCH_SETTINGS,
    SUPERNET_SETTINGS,
    DemoSettings,
)
from edgeprune.errors import EdgepruneError


@dataclass
class DemoData:
    sim: Path  # data.yaml of the sim domain
    real: Path  # data.yaml of the real domain (same scenes through a camera model)
    reused: bool


@dataclass
class BaseModel:
    weights: Path
    reused: bool
    map50: float | None  # on sim val, from training
    seconds: float  # training time (of the run that made it, when reused)


@dataclass
class StageTimer:
    """Wall time of each demo step, in order."""

    seconds: dict[str, float] = field(default_factory=dict)

    def record(self, name: str, began: float) -> None:
        self.seconds[name] = time.perf_counter() - began


# ------------------------------------------------------------------------------ data

def make_data(settings: DemoSettings, cache: Path | None, run: Path,
              console: Console) -> DemoData:
    """Generate the sim and real datasets (same seed, same scenes), or reuse cached ones."""
    from edgeprune.data.synth import generate_dataset

    root = (cache / f"data-{settings.key(*DATA_SETTINGS)}") if cache else run / "data"
    paths, reused = {}, True
    for domain in ("sim", "real"):
        out = root / domain
        if not (out / "data.yaml").is_file():  # written last: present means complete
            reused = False
            with console.status(f"generating {settings.images} {domain} images..."):
                generate_dataset(out, domain=domain, images=settings.images,
                                 seed=settings.seed, size=settings.image_size,
                                 workers=_synth_workers(), force=True)
        paths[domain] = out / "data.yaml"
    return DemoData(paths["sim"], paths["real"], reused)


def _synth_workers() -> int:
    from edgeprune.data.synth import default_workers

    return default_workers()


# ------------------------------------------------------------------------------ base model

def train_base(settings: DemoSettings, data: DemoData, cache: Path | None, run: Path,
               console: Console) -> BaseModel:
    """Train yolov3 at the demo width on sim, or reuse the one cached for these settings."""
    from edgeprune.train import TrainConfig
    from edgeprune.train.trainer import train

    cached = cache / f"base-{settings.key(*BASE_SETTINGS)}" if cache else None
    if cached is not None and (cached / "base.pt").is_file():
        meta = json.loads((cached / "base.json").read_text())
        return BaseModel(cached / "base.pt", True, meta.get("map50"), meta.get("seconds", 0.0))
    config = TrainConfig(data=str(data.sim), model="yolov3", width=settings.width,
                         imgsz=settings.imgsz, epochs=settings.epochs, batch=settings.batch,
                         seed=settings.seed)
    if settings.workers is not None:
        config.workers = settings.workers
    console.print(f"training the base model (yolov3 width {settings.width:g}, "
                  f"{settings.imgsz} px, {settings.epochs} epochs) into {escape(run / 'train')}",
                  highlight=False)
    result = train(config.check(), run / "train", console=console)
    best = result.best_stats
    map50 = best.map50 if best else None
    if cached is None:
        return BaseModel(result.best, False, map50, result.seconds)
    cached.mkdir(parents=True, exist_ok=True)
    partial = cached / ".base.pt.partial"
    shutil.copyfile(result.best, partial)
    partial.replace(cached / "base.pt")
    atomic_write_text(cached / "base.json", json.dumps(
        {"map50": map50, "seconds": result.seconds, "settings": settings.to_dict(),
         "trained_in": str(run / "train")}, indent=2))
    return BaseModel(cached / "base.pt", False, map50, result.seconds)


# ------------------------------------------------------------------------------ weight sharing

@dataclass
class WeightSharing:
    supernet: Path
    reused: bool
    seconds: float  # training time (of the run that made it, when reused)
    probe: dict  # sub-network -> mAP@0.5 after training


def train_weight_sharing(settings: DemoSettings, base: BaseModel, data: DemoData,
                         cache: Path | None, run: Path, console: Console) -> WeightSharing:
    """The base's weight-sharing network (the search's accuracy proxy), or the cached one."""
    from edgeprune.supernet.file import load_supernet
    from edgeprune.supernet.train import SupernetConfig, train_supernet

    cached = cache / f"supernet-{settings.key(*SUPERNET_SETTINGS)}" if cache else None
    if cached is not None and (cached / "supernet.pt").is_file():
        supernet = load_supernet(cached / "supernet.pt")
        return WeightSharing(cached / "supernet.pt", True, supernet.training.get("seconds", 0),
                             supernet.training.get("probe_map50", {}))
    config = SupernetConfig(weights=str(base.weights.resolve()), data=str(data.sim.resolve()),
                            form=settings.supernet_form, epochs=settings.supernet_epochs,
                            batch=settings.batch, seed=settings.seed,
                            probe_images=settings.val_images,
                            probe_batches=settings.recal_batches,
                            **({"workers": settings.workers} if settings.workers is not None
                               else {}))
    console.print(f"training the base's weight-sharing network ({settings.supernet_form}, "
                  f"{settings.supernet_epochs:g} epochs) into {escape(run / 'supernet')}",
                  highlight=False)
    result = train_supernet(config, run / "supernet", console=console)
    if cached is None:
        return WeightSharing(result.supernet, False, result.seconds, result.probe)
    cached.mkdir(parents=True, exist_ok=True)
    partial = cached / ".supernet.pt.partial"
    shutil.copyfile(result.supernet, partial)
    partial.replace(cached / "supernet.pt")
    return WeightSharing(cached / "supernet.pt", False, result.seconds, result.probe)


# ------------------------------------------------------------------------------ search

def search_agent(settings: DemoSettings, console: Console) -> str:
    from edgeprune.search.agents.base import AGENTS

    if settings.agent in AGENTS:
        return settings.agent
    console.print(f"[yellow]search agent {settings.agent!r} is not installed here; the demo "
                  f"uses the random-search baseline[/]", highlight=False)
    return "random"


def search_pruned(settings: DemoSettings, base: BaseModel, shared: WeightSharing | None,
                  data: DemoData, run: Path, console: Console):
    """Search a pruned yolov3 that is `target_speedup` times faster on this CPU (ort-cpu),
    candidates scored by the demo's proxy (with `shared`, the weight-sharing network's
    weights; else the base's own pruned weights)."""
    from edgeprune.search.loop import Search
    from edgeprune.search.proxy import ProxySettings
    from edgeprune.search.settings import SearchSettings
    from edgeprune.search.target import Target

    search_settings = SearchSettings(
        weights=str(base.weights.resolve()), data=str(data.sim.resolve()),
        target=Target(speedup=settings.target_speedup), device="cpu",
        agent=search_agent(settings, console), budget=settings.budget,
        protocol=dict(settings.latency_protocol),
        val_images=settings.val_images, seed=settings.seed, proxy=settings.proxy,
        proxy_settings=ProxySettings(recal_batches=settings.recal_batches,
                                     supernet=str(shared.supernet.resolve()) if shared else None,
                                     seed=settings.seed),
        # a dozen candidates: the latency model measures all of them anyway while it has few
        # networks to calibrate on (in benchmarks/results/latency_model.md the first 12 of 12
        # and 28 of the first 30; 113 of 300 in all)
        latency_mode="measure")
    console.print(f"searching ({search_settings.agent}, {settings.budget} candidates, "
                  f"target {settings.target_speedup:g}x faster on this CPU) into "
                  f"{escape(run / 'search')}", highlight=False)
    return Search.start(search_settings, run / "search", console=console).run()


# ------------------------------------------------------------------------------ fine-tuning

def finetune_pruned(settings: DemoSettings, search, base: BaseModel, data: DemoData,
                    run: Path, console: Console):
    """Fine-tune the search's best model on sim with distillation from the base."""
    from edgeprune.train.finetune import finetune, finetune_config

    if search.best is None:
        raise EdgepruneError("the search evaluated no candidate; nothing to fine-tune")
    overrides = {"batch": settings.batch, "seed": settings.seed}
    if settings.workers is not None:
        overrides["workers"] = settings.workers
    config = finetune_config(search.files["best_model"], str(data.sim),
                             settings.finetune_epochs, settings.imgsz, **overrides)
    console.print(f"fine-tuning the pruned model ({settings.finetune_epochs} epochs, "
                  f"distillation from the base) into {escape(run / 'finetune')}",
                  highlight=False)
    return finetune(config, run / "finetune", base.weights, settings.distill_weight,
                    console=console)


# ------------------------------------------------------------------------------ comparison

def scratch_comparison(settings: DemoSettings, search, data: DemoData, cache: Path | None,
                       run: Path, console: Console):
    """The widest yolov3 no slower than the pruned network (measured like the candidates,
    against the base), trained from scratch on sim for as many epochs as the pruned network
    had in all (the base's and fine-tuning's), so neither side wins by training longer."""
    from edgeprune.latency import resolve_device
    from edgeprune.models import builtin_cfg, load_checkpoint
    from edgeprune.train.scratch import WIDTH_GRID, matched_width, train_scratch

    best, measured = search.best, search.measured_base
    classes = len(load_checkpoint(search.files["best_model"]).names)
    meter = resolve_device("cpu", cache=run / "search" / "latency.sqlite",
                           protocol=dict(settings.latency_protocol))
    try:
        meter.use_reference(builtin_cfg("yolov3", num_classes=classes, width=settings.width,
                                        imgsz=settings.imgsz))
        with console.status("finding the yolov3 width as fast as the pruned network..."):
            width, ratio = matched_width(meter, classes, settings.imgsz, settings.width,
                                         best.latency_ms / measured.latency_ms)
    finally:
        meter.close()
    folder = None
    if cache is not None:
        folder = cache / (f"scratch-{settings.key(*SCRATCH_SETTINGS)}"
                          f"-w{round(width * WIDTH_GRID)}")
    return train_scratch(data.sim, "yolov3", width, ratio, imgsz=settings.imgsz,
                         epochs=settings.epochs + settings.finetune_epochs,
                         batch=settings.batch, seed=settings.seed,
                         workers=settings.workers, run=run / "scratch", console=console,
                         cache=folder)


# ------------------------------------------------------------------------------ evaluation

@dataclass
class ModelEvaluation:
    name: str
    weights: Path
    latency_ms: float  # measured by the search on ort-cpu
    gflops: float
    params: int
    results: dict[str, object]  # domain -> EvalResult


def evaluate_models(models: list[tuple[str, Path, float, float, int]], data: DemoData,
                    console: Console) -> list[ModelEvaluation]:
    """mAP of each (name, weights, latency, GFLOPs, params) on sim val and on real val, with
    the Detector that runs on the robot (torch runtime)."""
    from edgeprune.data import load_dataset
    from edgeprune.eval.evaluate import Evaluator
    from edgeprune.runtime.detector import Detector

    evaluators = {domain: Evaluator(load_dataset(path, "val").require_usable(), batch_size=8,
                                    cache_images=True)
                  for domain, path in (("sim", data.sim), ("real", data.real))}
    evaluations = []
    for name, weights, latency_ms, gflops, params in models:
        detector = Detector(str(weights), runtime="torch", device="cpu")
        results = {}
        for domain, evaluator in evaluators.items():
            with console.status(f"evaluating {name} on {domain} val..."):
                results[domain] = evaluator(detector)
        evaluations.append(ModelEvaluation(name, weights, latency_ms, gflops, params, results))
    return evaluations


def sim_to_real(settings: DemoSettings, base: BaseModel, tuned, data: DemoData, run: Path,
                console: Console):
    """The base and the fine-tuned model side by side on sim, real and corrupted sim
    (`edgeprune eval sim2real` with the demo's subset of corruptions, severities and images)."""
    from edgeprune.eval.sim2real import run_sim2real

    done = 0
    with console.status("sim-to-real robustness...") as status:
        def progress(images: int, total: int, what: str) -> None:
            nonlocal done
            done += images
            status.update(f"sim-to-real robustness: {what} ({done}/{total} images)")

        return run_sim2real({"base": base.weights, "fine-tuned": tuned.train.best}, data.sim,
                            data.real, settings.sim2real_corruptions,
                            settings.sim2real_severities, out=run / "sim2real",
                            max_images=settings.sim2real_images, seed=settings.seed,
                            runtime="torch", device="cpu", progress=progress)


def export_final(weights: Path, run: Path) -> Path:
    """The fine-tuned model as ONNX (checked against torch with ONNX Runtime): what goes on
    the robot next (`edgeprune export --format engine` on a Jetson)."""
    from edgeprune.models import load_checkpoint
    from edgeprune.onnxio.serialize import export_onnx

    ckpt = load_checkpoint(weights)
    return export_onnx(ckpt.model, run / "final.onnx", ckpt.imgsz, ckpt.names).path


