"""The demo's comparison steps: the models trained from scratch beside the searched one,
the evaluation of every model on sim and real, sim-to-real robustness and the final export
(edgeprune/demo/pipeline.py runs them after edgeprune/demo/steps.py's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgeprune.demo.settings import SCRATCH_SETTINGS, DemoSettings
from edgeprune.demo.steps import BaseModel, DemoData, scratch_epochs

# ------------------------------------------------------------------------------ comparison

def scratch_width(settings: DemoSettings, search, run: Path,
                  console: Console) -> tuple[float, float]:
    """(width, latency ratio to the base) of the widest yolov3 no slower than the pruned
    network, measured like the candidates, against the base (before any training starts:
    timing wants a quiet machine)."""
    from edgeprune.latency import resolve_device
    from edgeprune.models import builtin_cfg, load_checkpoint
    from edgeprune.train.scratch import matched_width

    best, measured = search.best, search.measured_base
    classes = len(load_checkpoint(search.files["best_model"]).names)
    meter = resolve_device("cpu", cache=run / "search" / "latency.sqlite",
                           protocol=dict(settings.latency_protocol),
                           threads=settings.ort_threads)
    try:
        meter.use_reference(builtin_cfg("yolov3", num_classes=classes, width=settings.width,
                                        imgsz=settings.imgsz))
        with console.status("finding the yolov3 width as fast as the pruned network..."):
            return matched_width(meter, classes, settings.imgsz, settings.width,
                                 best.latency_ms / measured.latency_ms)
    finally:
        meter.close()


def scratch_job(settings: DemoSettings, base: BaseModel, data: DemoData, cache: Path | None,
                run: Path, width: float, ratio: float):
    """yolov3 at `width` (scratch_width) trained from scratch on sim for as many epochs as
    the pruned network had in all (the base's and fine-tuning's), so neither side wins by
    training longer; a TrainingJob (demo/parallel.py)."""
    from edgeprune.demo.parallel import TrainingJob
    from edgeprune.train.scratch import WIDTH_GRID, train_scratch

    folder = None
    if cache is not None:
        folder = cache / (f"scratch-{settings.key(*SCRATCH_SETTINGS)}"
                          f"-w{round(width * WIDTH_GRID)}")
    epochs = scratch_epochs(settings, base)
    return TrainingJob(
        "scratch yolov3", f"yolov3 width {width:g} from scratch ({ratio:.3f} of the base's "
        f"latency, {epochs} epochs) into {run / 'scratch'}", train_scratch, run / "scratch",
        epochs, args=(data.sim, "yolov3", width, ratio),
        kwargs={"imgsz": settings.imgsz, "epochs": epochs, "batch": settings.batch,
                "seed": settings.seed, "workers": settings.workers, "run": run / "scratch",
                "cache": folder})


def searched_scratch_job(settings: DemoSettings, search, base: BaseModel, data: DemoData,
                         cache: Path | None, run: Path):
    """The search's best architecture trained from scratch for the same epochs as the
    other scratch model (Liu et al., ICLR 2019: a pruned architecture from scratch often
    matches the fine-tuned one; what the search found is then the architecture, not the
    weights); a TrainingJob, cached by the architecture itself."""
    import hashlib

    from edgeprune.demo.parallel import TrainingJob
    from edgeprune.models import load_checkpoint, write_cfg_text
    from edgeprune.train.scratch import train_scratch

    cfg = load_checkpoint(search.files["best_model"]).model.cfg
    digest = hashlib.sha256(write_cfg_text(cfg).encode()).hexdigest()[:12]
    folder = (cache / f"searched-{settings.key(*SCRATCH_SETTINGS)}-{digest}"
              if cache is not None else None)
    epochs = scratch_epochs(settings, base)
    return TrainingJob(
        "scratch searched", f"the searched architecture from scratch ({epochs} epochs) into "
        f"{run / 'scratch-searched'}", train_scratch, run / "scratch-searched", epochs,
        args=(data.sim, "searched", 0.0, search.best.latency_ms / search.measured_base
              .latency_ms),
        kwargs={"imgsz": settings.imgsz, "epochs": epochs, "batch": settings.batch,
                "seed": settings.seed, "workers": settings.workers,
                "run": run / "scratch-searched", "cache": folder, "architecture": cfg})


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


