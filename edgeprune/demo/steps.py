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
    weights: Path  # results.csv and (when converged) plateau.json lie beside it
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
    from edgeprune.train.plateau import PLATEAU_FILE
    from edgeprune.train.trainer import train

    cached = cache / f"base-{settings.key(*BASE_SETTINGS)}" if cache else None
    if cached is not None and (cached / "base.pt").is_file():
        meta = json.loads((cached / "base.json").read_text())
        return BaseModel(cached / "base.pt", True, meta.get("map50"), meta.get("seconds", 0.0))
    config = TrainConfig(data=str(data.sim), model="yolov3", width=settings.width,
                         imgsz=settings.imgsz, epochs=settings.epochs, batch=settings.batch,
                         seed=settings.seed, plateau_window=settings.plateau or None)
    if settings.workers is not None:
        config.workers = settings.workers
    until = (f"until converged (a {settings.plateau}-epoch plateau window), at most "
             f"{settings.epochs} epochs" if settings.plateau else f"{settings.epochs} epochs")
    console.print(f"training the base model (yolov3 width {settings.width:g}, "
                  f"{settings.imgsz} px, {until}) into {escape(run / 'train')}",
                  highlight=False)
    result = train(config.check(), run / "train", console=console)
    best = result.best_stats
    map50 = best.map50 if best else None
    if cached is None:
        return BaseModel(result.best, False, map50, result.seconds)
    cached.mkdir(parents=True, exist_ok=True)
    # what the regime check and fine-tuning's epoch budget read beside a base
    for name in ("results.csv", PLATEAU_FILE):
        if (result.run_dir / name).is_file():
            shutil.copyfile(result.run_dir / name, cached / name)
    partial = cached / ".base.pt.partial"
    shutil.copyfile(result.best, partial)
    partial.replace(cached / "base.pt")
    atomic_write_text(cached / "base.json", json.dumps(
        {"map50": map50, "seconds": result.seconds, "settings": settings.to_dict(),
         "trained_in": str(run / "train")}, indent=2))
    return BaseModel(cached / "base.pt", False, map50, result.seconds)


def regime_checks(settings: DemoSettings, base: BaseModel, console: Console):
    """Checks (a) and (b) of `edgeprune regime` on this base and CPU: converged by the
    plateau rule, and a uniform keep-0.5 prune measured at least 2.5x faster (latency that
    follows compute). Checks (c) and (d) need a yolov3-tiny trained from scratch, longer than
    a demo: `edgeprune regime --tiny` runs them."""
    from edgeprune.latency import resolve_device
    from edgeprune.models import load_checkpoint
    from edgeprune.search.regime import RegimeReport, converged, follows_compute

    cfg = load_checkpoint(base.weights).model.cfg
    meter = resolve_device("cpu", cache=None, protocol=dict(settings.latency_protocol),
                           threads=settings.ort_threads)
    try:
        with console.status("regime check: timing a uniform keep-0.5 prune against the "
                            "base..."):
            compute = follows_compute(meter, cfg, (settings.imgsz, settings.imgsz))
        report = RegimeReport(str(base.weights), meter.describe(),
                              [converged(base.weights), compute])
    finally:
        meter.close()
    for check in report.checks:
        colour = "green" if check.passed else "red"
        console.print(f"regime check [{colour}]{check.mark()}[/]: {escape(check.name)}: "
                      f"{escape(check.measured)}", highlight=False)
    return report


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
        protocol=dict(settings.latency_protocol), threads=settings.ort_threads,
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

def finetune_job(settings: DemoSettings, search, base: BaseModel, data: DemoData,
                 run: Path):
    """Fine-tuning the search's best model on sim with distillation from the base, as a
    TrainingJob (demo/parallel.py runs it beside the scratch models)."""
    from edgeprune.demo.parallel import TrainingJob
    from edgeprune.train.finetune import finetune, finetune_config

    if search.best is None:
        raise EdgepruneError("the search evaluated no candidate; nothing to fine-tune")
    overrides = {"batch": settings.batch, "seed": settings.seed}
    if settings.workers is not None:
        overrides["workers"] = settings.workers
    epochs, why = finetune_epochs(settings, base)
    config = finetune_config(search.files["best_model"], str(data.sim), epochs,
                             settings.imgsz, **overrides)
    folder = run / "finetune"
    return TrainingJob("fine-tuning", f"fine-tuning the pruned model ({epochs} epochs: {why}; "
                       f"distillation from the base) into {folder}", finetune, folder, epochs,
                       args=(config, folder, base.weights, settings.distill_weight))


def finetune_epochs(settings: DemoSettings, base: BaseModel) -> tuple[int, str]:
    """(epochs, why): `finetune_epochs` when given, else `finetune_share` of the base's."""
    from edgeprune.train.finetune import share_of_base

    if settings.finetune_epochs is not None:
        return settings.finetune_epochs, "as given"
    return share_of_base(base.weights, settings.finetune_share)


def scratch_epochs(settings: DemoSettings, base: BaseModel) -> int:
    """The pruned network's epochs in all (the base's and fine-tuning's): what every model
    trained from scratch gets, so neither side wins by training longer."""
    from edgeprune.train.finetune import base_epochs

    return base_epochs(base.weights)[0] + finetune_epochs(settings, base)[0]
