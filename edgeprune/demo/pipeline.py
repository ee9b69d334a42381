"""`edgeprune demo`: the whole chain on the embedded default, as a sequence of small steps.

    data = make_data(settings, cache)             # generated sim + real RoboMaster-like data
    base = train_base(settings, data, cache, run)  # or reuse the cached one
    shared = train_weight_sharing(settings, base, data, cache, run)  # the search's proxy
    search = search_pruned(settings, base, shared, data, run)
    tuned = finetune_pruned(settings, search, base, data, run)
    scratch = scratch_comparison(settings, search, data, cache, run)  # same latency, no search
    evaluations = evaluate_models(settings, {...}, data)
    export_final(tuned, run)
    robustness = sim_to_real(settings, base, tuned, data, run)   # base vs fine-tuned

Each step (demo/steps.py) is a plain function of the settings and the previous steps' results,
so steps can be added without touching the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgeprune.demo.settings import DEFAULT_CACHE, DemoSettings
from edgeprune.demo.steps import (
    BaseModel,
    DemoData,
    ModelEvaluation,
    StageTimer,
    WeightSharing,
    evaluate_models,
    export_final,
    finetune_pruned,
    make_data,
    scratch_comparison,
    search_pruned,
    sim_to_real,
    train_base,
    train_weight_sharing,
)

__all__ = ["DEFAULT_CACHE", "DemoResult", "DemoSettings", "ModelEvaluation", "run_demo"]


# ------------------------------------------------------------------------------ the chain

@dataclass
class DemoResult:
    settings: DemoSettings
    run: Path
    data: DemoData
    base: BaseModel
    search: object  # SearchOutcome
    finetune: object  # FinetuneResult
    evaluations: list[ModelEvaluation]
    onnx: Path
    timer: StageTimer
    sim2real: object = None  # Sim2RealResult: base vs fine-tuned
    report: Path | None = None
    shared: WeightSharing | None = None
    scratch: object = None  # ScratchModel


def run_demo(settings: DemoSettings, run: Path, cache: Path | None,
             console: Console) -> DemoResult:
    """Every step in order; `cache` None regenerates and retrains everything."""
    from edgeprune.models import load_checkpoint
    from edgeprune.models.counting import count_gflops, count_params

    timer = StageTimer()
    began = time.perf_counter()
    data = make_data(settings, cache, run, console)
    timer.record("data", began)

    began = time.perf_counter()
    base = train_base(settings, data, cache, run, console)
    timer.record("base model", began)

    shared = None
    if settings.supernet_form:
        began = time.perf_counter()
        shared = train_weight_sharing(settings, base, data, cache, run, console)
        timer.record("weight-sharing network", began)

    began = time.perf_counter()
    search = search_pruned(settings, base, shared, data, run, console)
    timer.record("search", began)

    began = time.perf_counter()
    tuned = finetune_pruned(settings, search, base, data, run, console)
    timer.record("fine-tuning", began)

    began = time.perf_counter()
    scratch = scratch_comparison(settings, search, data, cache, run, console)
    timer.record("scratch comparison", began)

    began = time.perf_counter()
    measured, best = search.measured_base, search.best
    scratch_cfg = load_checkpoint(scratch.weights).model.cfg
    evaluations = evaluate_models(
        [("base", base.weights, measured.latency_ms, measured.gflops, measured.params),
         ("pruned", search.files["best_model"], best.latency_ms, best.gflops,
          best.params),
         ("fine-tuned", tuned.train.best, best.latency_ms, best.gflops, best.params),
         (f"scratch (yolov3 w{scratch.width:g})", scratch.weights,
          scratch.latency_ratio * measured.latency_ms,
          count_gflops(scratch_cfg, (settings.imgsz, settings.imgsz)),
          count_params(scratch_cfg))],
        data, console)
    onnx = export_final(tuned.train.best, run)
    timer.record("evaluation and export", began)

    began = time.perf_counter()
    robustness = sim_to_real(settings, base, tuned, data, run, console)
    timer.record("sim-to-real robustness", began)
    result = DemoResult(settings, run, data, base, search, tuned, evaluations, onnx, timer,
                        robustness, shared=shared, scratch=scratch)

    from edgeprune.demo.report import write_report

    result.report = write_report(result)
    return result
