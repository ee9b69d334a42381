"""`edgeprune demo`: the whole chain on the embedded default, as a sequence of small steps.

    data = make_data(settings, cache)             # generated sim + real RoboMaster-like data
    base = train_base(settings, data, cache, run)  # until converged, or the cached one
    regime = regime_checks(settings, base)         # converged? latency follows compute?
    shared = train_weight_sharing(settings, base, data, cache, run)  # the search's proxy
    search = search_pruned(settings, base, shared, data, run)
    width = scratch_width(settings, search, run)    # the widest yolov3 as fast, measured
    tuned, scratch, searched = run_side_by_side([    # in parallel: one process each
        finetune_job(...),                           # a share of the base's epochs
        scratch_job(...),                            # that yolov3, the same epochs in all
        searched_scratch_job(...)])                  # Liu et al.: the architecture alone
    evaluations = evaluate_models(settings, {...}, data)
    export_final(tuned, run)
    robustness = sim_to_real(settings, base, tuned, data, run)   # base vs fine-tuned

Each step (demo/steps.py, demo/comparison.py) is a plain function of the settings and the
previous steps' results, so steps can be added without touching the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgeprune.demo.comparison import (
    ModelEvaluation,
    evaluate_models,
    export_final,
    scratch_job,
    scratch_width,
    searched_scratch_job,
    sim_to_real,
)
from edgeprune.demo.parallel import default_slots, run_side_by_side
from edgeprune.demo.settings import DEFAULT_CACHE, DemoSettings
from edgeprune.demo.steps import (
    BaseModel,
    DemoData,
    StageTimer,
    WeightSharing,
    finetune_job,
    make_data,
    regime_checks,
    search_pruned,
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
    scratch: object = None  # ScratchModel: the widest yolov3 no slower
    searched_scratch: object = None  # ScratchModel: the searched architecture from scratch
    regime: object = None  # RegimeReport: checks (a) and (b) of `edgeprune regime`
    training_slots: int = 1  # the trainings after the search that ran at once


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

    began = time.perf_counter()
    regime = regime_checks(settings, base, console)
    timer.record("regime checks", began)

    shared = None
    if settings.supernet_form:
        began = time.perf_counter()
        shared = train_weight_sharing(settings, base, data, cache, run, console)
        timer.record("weight-sharing network", began)

    began = time.perf_counter()
    search = search_pruned(settings, base, shared, data, run, console)
    timer.record("search", began)

    # the three trainings after the search need nothing of each other: side by side
    began = time.perf_counter()
    width, ratio = scratch_width(settings, search, run, console)  # timed before they start
    jobs = [finetune_job(settings, search, base, data, run),
            scratch_job(settings, base, data, cache, run, width, ratio),
            searched_scratch_job(settings, search, base, data, cache, run)]
    slots = min(settings.parallel or default_slots(), len(jobs))
    trained = run_side_by_side(jobs, slots, console)
    tuned, scratch, searched = (trained[job.name] for job in jobs)
    timer.record("fine-tuning and scratch models", began)

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
          count_params(scratch_cfg)),
         # the fine-tuned network's architecture: the same measured latency
         ("scratch (searched architecture)", searched.weights, best.latency_ms, best.gflops,
          best.params)],
        data, console)
    onnx = export_final(tuned.train.best, run)
    timer.record("evaluation and export", began)

    began = time.perf_counter()
    robustness = sim_to_real(settings, base, tuned, data, run, console)
    timer.record("sim-to-real robustness", began)
    result = DemoResult(settings, run, data, base, search, tuned, evaluations, onnx, timer,
                        robustness, shared=shared, scratch=scratch,
                        searched_scratch=searched, regime=regime, training_slots=slots)

    from edgeprune.demo.report import write_report

    result.report = write_report(result)
    return result
