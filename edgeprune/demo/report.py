"""The demo's report.md and its summary table."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.demo.pipeline import DemoResult, ModelEvaluation

SAME_LATENCY = 0.03  # latencies within 3% count as equal (as the search benchmarks do)


def _rows(result: DemoResult) -> list[list[str]]:
    base = result.evaluations[0]
    rows = []
    for evaluation in result.evaluations:
        sim, real = evaluation.results["sim"], evaluation.results["real"]
        rows.append([
            evaluation.name, f"{evaluation.latency_ms:.2f}",
            f"{base.latency_ms / evaluation.latency_ms:.2f}x", f"{evaluation.gflops:.3f}",
            f"{evaluation.params / 1e6:.3f}", f"{sim.map50:.4f}", f"{sim.map50_95:.4f}",
            f"{real.map50:.4f}", f"{real.map50_95:.4f}", f"{sim.map50 - real.map50:+.4f}"])
    return rows


COLUMNS = ("model", "latency (ms)", "speedup", "GFLOPs", "params (M)", "sim mAP@0.5",
           "sim mAP@0.5:0.95", "real mAP@0.5", "real mAP@0.5:0.95", "sim-real gap @0.5")


SHORT_COLUMNS = ("model", "ms", "speedup", "GFLOPs", "sim .5", "real .5", "sim .5:.95",
                 "real .5:.95")


def summary_table(result: DemoResult):
    """The results in a terminal's width: latency, speedup, GFLOPs, mAP@0.5 and mAP@0.5:0.95
    on sim and real."""
    from rich.table import Table

    table = Table(title=f"edgeprune demo: {result.run}", title_justify="left")
    for column in SHORT_COLUMNS:
        table.add_column(column, justify="left" if column == "model" else "right",
                         no_wrap=column == "model")
    for row in _rows(result):
        table.add_row(_short_name(row[0]), row[1], row[2], row[3], row[5], row[7], row[6],
                      row[8])
    table.caption = ("mAP on the val split of each domain; latency on this CPU (ort-cpu), "
                     "timed against the base; scratch: trained without the search (wN: the "
                     "thinner yolov3, arch: the searched architecture)")
    return table


def _short_name(name: str) -> str:
    """A model's name in a terminal's width: scratch (yolov3 w0.125) -> scratch w0.125."""
    return (name.replace("scratch (yolov3 ", "scratch ").replace("(searched architecture)",
                                                                  "arch").rstrip(")")
            if name.startswith("scratch") else name)


ROBUSTNESS_COLUMNS = ("model", "sim mAP@0.5", "real mAP@0.5", "real/sim",
                      "corrupted mAP@0.5", "kept", "weakest corruption")


def _robustness_rows(result: DemoResult) -> list[list[str]]:
    from edgeprune.eval.sim2real.report import number, percent

    return [[m.label, number(m.sim.map50), number(m.real.map50), percent(m.real_retention()),
             number(m.suite_mean()), percent(m.suite_retention()),
             m.weakest_corruption() or "-"] for m in result.sim2real.models]


def robustness_table(result: DemoResult):
    """Base vs fine-tuned: what each keeps on real images and under camera corruptions."""
    from rich.table import Table

    table = Table(title="sim-to-real robustness", title_justify="left")
    for column in ROBUSTNESS_COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "weakest corruption")
                         else "right")
    for row in _robustness_rows(result):
        table.add_row(*row)
    table.caption = (f"{result.sim2real.datasets['sim']['images']} val images per domain; "
                     f"kept = corrupted / clean sim mAP")
    return table


def _robustness_section(result: DemoResult) -> list[str]:
    robustness = result.sim2real
    return [
        "## Sim-to-real robustness",
        "",
        f"The base and the fine-tuned model side by side (`edgeprune eval sim2real`) on "
        f"{robustness.datasets['sim']['images']} val images of each domain, and on the sim "
        f"images through {', '.join(robustness.corruptions)} at severities "
        f"{', '.join(map(str, robustness.severities))}. real/sim is the share of the sim "
        f"mAP@0.5 kept on real images; kept is the mean corrupted mAP@0.5 over the clean one "
        f"(rPC). Full report with plots: "
        f"[sim2real/report.md]({_relative(robustness.files['report'], result.run)}).",
        "",
        "| " + " | ".join(ROBUSTNESS_COLUMNS) + " |",
        "|" + "---|" * len(ROBUSTNESS_COLUMNS),
        *["| " + " | ".join(row) + " |" for row in _robustness_rows(result)],
        "",
    ]


def _relative(path: Path, run: Path) -> str:
    try:
        return os.path.relpath(path, run)
    except ValueError:
        return str(path)


def write_report(result: DemoResult) -> Path:
    settings, run, search = result.settings, result.run, result.search
    measured, best = search.measured_base, search.best
    tuned = result.finetune
    final: ModelEvaluation = result.evaluations[-1]
    lines = [
        f"# edgeprune demo {run.name}",
        "",
        f"Written {dt.datetime.now().isoformat(timespec='seconds')}. The whole chain on "
        f"generated RoboMaster-like data: a `sim` domain (clean renders) to train on and a "
        f"`real` domain (the same scenes through a camera model: blur, noise, exposure, "
        f"JPEG) to see how the models carry over; latency measured with ONNX Runtime on this "
        f"CPU (`--device cpu`).",
        "",
        "## Results",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *["| " + " | ".join(row) + " |" for row in _rows(result)],
        "",
        "`pruned` is the search's best candidate ("
        + ("its weights from the weight-sharing network" if result.shared is not None
           else "the base's own weights, pruned")
        + ", BN recalibrated), `fine-tuned` the same network after fine-tuning with "
        "distillation; `scratch` is what a user gets without the search: the widest yolov3 "
        "no slower than the pruned network, trained from scratch on the same data for the "
        "pruned network's epochs in all (the base's and fine-tuning's); `scratch (searched "
        "architecture)` is the pruned network's own architecture trained the same way from "
        "fresh weights (if it matches the fine-tuned one, the search's value is the "
        "architecture it found). "
        f"Latency is measured on {_device(measured.latency)}, each network timed interleaved "
        f"with the base in one window: the ratio to the base x the base's median (the "
        f"fine-tuned model has the pruned architecture, so the same measurement). mAP on the "
        f"val split of each domain ({final.results['sim'].images} images), with the "
        f"Detector that runs on the robot.",
        *_verdict(result),
        "",
        *_regime_section(result),
        *(_robustness_section(result) if result.sim2real is not None else []),
        "## Steps",
        "",
        f"1. **Data**: `edgeprune data synth`, {settings.images} images per domain at "
        f"{settings.image_size[0]}x{settings.image_size[1]}, seed {settings.seed}"
        + (" (reused from the cache)" if result.data.reused else "") + f": "
        f"`{result.data.sim}`, `{result.data.real}`.",
        f"2. **Base model**: yolov3 width {settings.width:g} at {settings.imgsz} px, "
        f"{_base_epochs(result)}, batch {settings.batch} on sim"
        + (" (reused from the cache)" if result.base.reused else "")
        + (f"; sim val mAP@0.5 {result.base.map50:.4f} in training"
           if result.base.map50 is not None else "")
        + f"; {result.base.seconds / 60:.1f} min of training: `{result.base.weights}`.",
        *_weight_sharing_step(result),
        f"3. **Search**: agent `{search.settings.agent}`, {len(search.records)} candidates "
        f"(budget {settings.budget}), target {settings.target_speedup:g}x faster = "
        f"{measured.target_ms:.2f} ms; best candidate {best.latency_ms:.2f} ms "
        f"({'meets' if best.feasible else 'MISSES'} the target), accuracy proxy "
        f"{best.accuracy:.4f} vs the base's {measured.accuracy:.4f}. Details: "
        f"[search/report.md]({_relative(search.files['report'], run)}).",
        f"4. **Fine-tuning**: {_finetune_epochs(result)} with distillation (weight "
        f"{tuned.distill_weight:g}) from the base; sim val mAP@0.5 "
        + (f"{tuned.before.map50:.4f} before, {tuned.after.map50:.4f} after"
           if tuned.before and tuned.after else "not measured")
        + f": `{_relative(tuned.train.best, run)}`"
        + (f" (side by side with 4b and 4c, {result.training_slots} trainings at "
           f"a time, one process each)" if result.training_slots > 1 else "") + ".",
        *_scratch_step(result),
        f"5. **Export**: `{_relative(result.onnx, run)}` (checked against torch with ONNX "
        f"Runtime); on a Jetson: `edgeprune export --weights "
        f"{_relative(tuned.train.best, run)} --format engine --half`.",
        *([f"6. **Sim-to-real robustness**: `edgeprune eval sim2real` of the base and the "
           f"fine-tuned model: [sim2real/report.md]"
           f"({_relative(result.sim2real.files['report'], run)})."]
          if result.sim2real is not None else []),
        "",
        "## Time",
        "",
        "| step | minutes |",
        "|---|---|",
        *[f"| {name} | {seconds / 60:.1f} |" for name, seconds in result.timer.seconds.items()],
        f"| total | {sum(result.timer.seconds.values()) / 60:.1f} |",
        "",
    ]
    path = run / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def _by_name(result: DemoResult, prefix: str) -> ModelEvaluation | None:
    return next((e for e in result.evaluations if e.name.startswith(prefix)), None)


def _verdict(result: DemoResult) -> list[str]:
    """What the fine-tuned network keeps of the base, and whether it beats each model trained
    from scratch at equal or lower latency (more accuracy bought with more latency is not a
    win over a thinner model)."""
    base, tuned = result.evaluations[0], _by_name(result, "fine-tuned")
    if tuned is None:
        return []
    kept = tuned.results["sim"].map50 / max(base.results["sim"].map50, 1e-9)
    lines = ["", f"**The fine-tuned network keeps {kept:.1%} of the base's sim mAP@0.5** "
             f"({tuned.results['sim'].map50:.4f} of {base.results['sim'].map50:.4f}) at "
             f"{base.latency_ms / tuned.latency_ms:.2f}x the base's speed."]
    for scratch in (e for e in result.evaluations if e.name.startswith("scratch")):
        gap = tuned.results["sim"].map50 - scratch.results["sim"].map50
        # the scratch width is chosen on a coarse grid, so "equal" latency allows the
        # timing's noise
        no_slower = tuned.latency_ms <= scratch.latency_ms * (1 + SAME_LATENCY)
        if gap > 0 and no_slower:
            word = "beats"
        elif gap > 0:
            word = "is more accurate but slower than"
        else:
            word = "does NOT beat"
        lines += ["", f"**The searched network {word} {scratch.name}**: sim mAP@0.5 "
                  f"{tuned.results['sim'].map50:.4f} vs {scratch.results['sim'].map50:.4f} "
                  f"({gap * 100:+.1f} points) at {tuned.latency_ms:.2f} vs "
                  f"{scratch.latency_ms:.2f} ms"
                  + ("" if no_slower else " (a win needs equal or lower latency)") + "."]
    return lines


def _regime_section(result: DemoResult) -> list[str]:
    """Checks (a) and (b) of `edgeprune regime`: does pruning pay with this base here?"""
    regime = result.regime
    if regime is None:
        return []
    return [
        "## Regime checks",
        "",
        "Is this a regime where pruning can pay? `edgeprune regime` (docs/search.md, "
        "\"Before comparing: the regime\"): (a) the base trained until converged; (b) "
        "latency follows compute on this CPU. Checks (c) and (d) need a yolov3-tiny trained "
        "from scratch: `edgeprune regime --tiny`.",
        "",
        "| check | result | measured | why |",
        "|---|---|---|---|",
        *[f"| {c.name} | {c.mark()} | {c.measured} | {c.reason} |" for c in regime.checks],
        "",
    ]


def _base_epochs(result: DemoResult) -> str:
    """What the base trained, from its run's files beside it (results.csv, plateau.json)."""
    from edgeprune.train.finetune import base_epochs
    from edgeprune.train.plateau import read_verdict

    settings = result.settings
    epochs = _epochs(base_epochs(result.base.weights)[0])
    if read_verdict(result.base.weights.parent) is not None:
        return (f"{epochs} of at most {settings.epochs}, stopped by the plateau rule "
                f"({_epochs(settings.plateau)} window; see the regime checks)")
    return f"{epochs} (at most {settings.epochs}: not converged by then)"


def _finetune_epochs(result: DemoResult) -> str:
    from edgeprune.demo.steps import finetune_epochs

    epochs, why = finetune_epochs(result.settings, result.base)
    return f"{_epochs(epochs)} ({why})"


def _epochs(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


def _weight_sharing_step(result: DemoResult) -> list[str]:
    shared, settings = result.shared, result.settings
    if shared is None:
        return []
    probe = ", ".join(f"{name} {value:.3f}" for name, value in shared.probe.items())
    return [f"2b. **Weight-sharing network**: `edgeprune supernet train --form "
            f"{settings.supernet_form}`, {settings.supernet_epochs:g} epochs from the base"
            + (" (reused from the cache)" if shared.reused else "")
            + f"; {shared.seconds / 60:.1f} min of training; sub-networks after BN "
            f"re-estimation: {probe or 'not probed'}: `{shared.supernet}`."]


def _scratch_step(result: DemoResult) -> list[str]:
    from edgeprune.demo.steps import scratch_epochs

    scratch, searched = result.scratch, result.searched_scratch
    if scratch is None:
        return []
    epochs = scratch_epochs(result.settings, result.base)
    lines = [f"4b. **Scratch comparison**: yolov3 width {scratch.width:g} (the widest at most "
             f"the pruned network's latency: {scratch.latency_ratio:.3f} of the base's, timed "
             f"against it), {_epochs(epochs)} from scratch on sim"
             + (" (reused from the cache)" if scratch.reused else "")
             + f"; {scratch.seconds / 60:.1f} min of training: `{scratch.weights}`."]
    if searched is not None:
        lines.append(f"4c. **The searched architecture from scratch** (Liu et al., ICLR 2019): "
                     f"the pruned network's architecture with fresh weights, "
                     f"{_epochs(epochs)} on sim"
                     + (" (reused from the cache)" if searched.reused else "")
                     + f"; {searched.seconds / 60:.1f} min of training: "
                     f"`{searched.weights}`.")
    return lines


def _device(latency: dict) -> str:
    device = latency.get("device") or {}
    threads = device.get("threads")
    return (f"{latency.get('backend', '')} ({latency.get('backend_version', '')}), "
            f"{device.get('name', 'this CPU')}"
            + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""))
