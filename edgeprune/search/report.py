"""report.md of a search, with its plots: reward over steps; accuracy against measured latency
with the Pareto front; the best candidate's kept channels per layer and dropped blocks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.plotting import pyplot, save_figure
from edgeprune.prune.space import PruneSpace
from edgeprune.search.candidate import Candidate
from edgeprune.search.results import distinct
from edgeprune.search.verdict import latency_cells


def plot_rewards(records: list[Candidate], path: Path) -> Path:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 3.6))
    steps = [r.step for r in records]
    colours = ["tab:green" if r.feasible else "tab:orange" for r in records]
    axis.scatter(steps, [r.reward for r in records], c=colours, s=18, zorder=3)
    running, best = [], float("-inf")
    for record in records:
        best = max(best, record.reward)
        running.append(best)
    axis.step(steps, running, where="post", color="tab:blue", label="best so far")
    axis.scatter([], [], c="tab:green", s=18, label="meets target")
    axis.scatter([], [], c="tab:orange", s=18, label="over target")
    axis.set_xlabel("step")
    axis.set_ylabel("reward")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    return save_figure(figure, path)


def plot_pareto(records: list[Candidate], front: list[Candidate],
                target_ms: float, base_ms: float, base_accuracy: float, path: Path) -> Path:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.2))
    points = distinct(records)
    clean = [r for r in points if not r.noise and r.measured]
    noisy = [r for r in points if r.noise]
    predicted = [r for r in points if r.latency_predicted]
    axis.scatter([r.latency_ms for r in clean], [r.accuracy for r in clean], s=16,
                 color="tab:gray", alpha=0.7, label="candidates (measured)")
    if predicted:  # the latency model's answers: the agent learned from them, no result is one
        axis.scatter([r.latency_ms for r in predicted], [r.accuracy for r in predicted], s=16,
                     facecolors="none", edgecolors="tab:gray", alpha=0.7,
                     label="candidates (latency predicted)")
    if noisy:  # re-taken or wide-spread measurements: shown, not hidden among the others
        axis.scatter([r.latency_ms for r in noisy], [r.accuracy for r in noisy], s=30,
                     marker="x", color="tab:orange", label="noisy measurement")
    axis.plot([r.latency_ms for r in front], [r.accuracy for r in front], "o-",
              color="tab:blue", ms=5, label="Pareto front")
    axis.scatter([base_ms], [base_accuracy], marker="*", s=120, color="black", label="base",
                 zorder=4)
    axis.axvline(target_ms, color="tab:red", ls="--", lw=1, label="target")
    relative = any(r.latency_ratio is not None for r in points)
    axis.set_xlabel("latency (ms): ratio to the base in the same window x base latency"
                    if relative else "measured latency (ms, median)")
    axis.set_ylabel("accuracy proxy (mAP@0.5)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return save_figure(figure, path)


def kept_fractions(space: PruneSpace, record: Candidate
                   ) -> list[tuple[int, float, bool]]:
    """(group key, kept channels / width, inside a dropped block) for every channel group."""
    resolved = space.resolve(record.spec)
    dropped = {block.index for block in resolved.dropped}
    return [(group.key, resolved.kept[group.set_id] / group.width, group.block in dropped)
            for group in space.groups]


def plot_best(space: PruneSpace, record: Candidate, path: Path) -> Path:
    plt = pyplot()
    figure, (groups_axis, blocks_axis) = plt.subplots(
        2, 1, figsize=(9, 4.8), gridspec_kw={"height_ratios": [3, 1]})
    fractions = kept_fractions(space, record)
    positions = range(len(fractions))
    groups_axis.bar(positions, [0 if gone else f for _, f, gone in fractions],
                    color=["tab:blue"] * len(fractions))
    gone = [i for i, (_, _, g) in enumerate(fractions) if g]
    groups_axis.bar(gone, [1] * len(gone), color="none", edgecolor="tab:red", hatch="//",
                    label="in a dropped block")
    labels = [str(key) for key, _, _ in fractions]
    groups_axis.set_xticks(list(positions), labels, rotation=90, fontsize=6)
    groups_axis.set_ylim(0, 1.05)
    groups_axis.set_ylabel("channels kept")
    groups_axis.set_xlabel("channel group (first conv layer)")
    if gone:
        groups_axis.legend(fontsize=8, loc="lower right")
    dropped = set(record.spec.drop_blocks)
    blocks = [b.index for b in space.blocks]
    blocks_axis.bar(blocks, [1] * len(blocks),
                    color=["tab:red" if b in dropped else "tab:green" for b in blocks])
    blocks_axis.set_yticks([])
    blocks_axis.set_xticks(blocks, [str(b) for b in blocks], fontsize=7)
    blocks_axis.set_xlabel("residual block (green kept, red dropped)")
    figure.tight_layout()
    return save_figure(figure, path)


def _fmt_spec(space: PruneSpace, record: Candidate) -> str:
    spec = record.spec
    blocks = ", ".join(str(b) for b in spec.drop_blocks) or "none"
    fractions = [f for _, f, gone in kept_fractions(space, record) if not gone]
    mean = sum(fractions) / len(fractions) if fractions else 1.0
    return (f"dropped blocks: {blocks} (of {len(space.blocks)}); mean kept channels "
            f"{mean:.2f}")


def write_report(outcome, space: PruneSpace) -> Path:
    """Write report.md and its plots into the run folder; returns the report's path."""
    run, settings, measured = outcome.run_dir, outcome.settings, outcome.measured_base
    records, best, front = outcome.records, outcome.best, outcome.pareto
    plots = []
    if records:
        plots.append(("Reward over steps", plot_rewards(records, run / "reward.png")))
        plots.append(("Accuracy proxy against measured latency",
                      plot_pareto(records, front, measured.target_ms, measured.latency_ms,
                                  measured.accuracy, run / "pareto.png")))
    if best is not None:
        plots.append(("Best candidate: channels kept per group, blocks dropped",
                      plot_best(space, best, run / "best_spec.png")))
    fresh = sum(r.measured_now for r in records)
    predicted = sum(r.latency_predicted for r in records)
    evaluated = sum(r.repeat_of is None for r in records)
    sessions = len({r.session for r in records})
    height, width = settings.imgsz
    lines = [
        f"# Search {run.name}",
        "",
        f"Written {dt.datetime.now().isoformat(timespec='seconds')} by edgeprune search.",
        "",
        "## Settings",
        "",
        "| | |",
        "|---|---|",
        f"| base | `{settings.weights}` |",
        f"| data | `{settings.data}` ({settings.val_images or 'all'} validation images) |",
        f"| device | `{settings.device}`: {measured.latency.get('backend', '')} on "
        f"{_device_text(measured.latency)} |",
        f"| input | {width}x{height}, {measured.latency.get('precision', '')} |",
        f"| target | {settings.target.describe()} = **{measured.target_ms:.3f} ms** |",
        f"| agent | `{settings.agent}` {settings.agent_options or ''}, seed {settings.seed} |",
        f"| budget | {settings.budget} candidates |",
        f"| reward | {settings.reward.describe()} |",
        f"| accuracy proxy | `{settings.proxy}`: {settings.proxy_settings.recal_batches} BN "
        f"recalibration batches of {settings.proxy_settings.batch_size}"
        + (f", {settings.proxy_settings.finetune_steps} training steps first"
           if settings.proxy == "finetune" else "")
        + (f"; weights from `{settings.proxy_settings.supernet}`"
           if settings.proxy_settings.supernet else "") + " |",
        *([f"| robust accuracy | (1 - {settings.robust.weight:g}) x clean + "
           f"{settings.robust.weight:g} x mean of "
           + " and ".join(p for p, given in (
               (f"{settings.robust.images} val images under "
                f"{', '.join(settings.robust.corruptions)} (severities "
                f"{', '.join(map(str, settings.robust.severities))}, drawn from the seed)",
                settings.robust.corruptions),
               (f"the val split of `{settings.robust.real}`", settings.robust.real)) if given)
           + " |"] if settings.robust else []),
        f"| pruning | keep ratios {settings.min_ratio:g}..1, channels rounded to "
        f"{settings.round_to}, at least {settings.min_channels}; `{settings.importance}` "
        f"importance |",
        "",
        "## Result",
        "",
        *(line for warning in outcome.warnings for line in (f"> **Warning:** {warning}", "")),
        "| | base | best | ratio |",
        "|---|---|---|---|",
    ]
    if best is not None:
        cells = latency_cells(measured, best)
        lines += [
            f"| measured latency (ms), median (95% interval) | {cells.base} | {cells.best} | "
            f"{cells.speedup} |",
            f"| accuracy proxy (mAP@0.5{', rewarded' if best.accuracy_parts else ''}) | "
            f"{measured.accuracy:.4f} | {best.accuracy:.4f} | "
            f"{best.accuracy - measured.accuracy:+.4f} |",
            *(f"| - {name} mAP@0.5 | {(measured.accuracy_parts or {}).get(name, float('nan')):.4f}"
              f" | {value:.4f} | "
              f"{value - (measured.accuracy_parts or {}).get(name, float('nan')):+.4f} |"
              for name, value in (best.accuracy_parts or {}).items()),
            f"| GFLOPs | {measured.gflops:.3f} | {best.gflops:.3f} | "
            f"{best.gflops / measured.gflops:.3f} |",
            f"| parameters | {measured.params:,} | {best.params:,} | "
            f"{best.params / measured.params:.3f} |",
            "",
            f"Best: step {best.step}, reward {best.reward:.4f}, "
            + ("meets the target" if best.feasible else
               "**no candidate met the target**; this is the highest reward") + "; "
            + _fmt_spec(space, best) + ". Spec: `best.yaml`; model (pruned, BN recalibrated): "
            "`best.pt`. The accuracy proxy is measured before fine-tuning "
            "(`edgeprune finetune`). The best's latency is its ratio to the base timed in the "
            "same window times the base's latency; its interval combines both intervals.",
            "",
            f"The base's latency: {_base_latency_text(measured)}.",
        ]
    else:
        lines.append("| (no candidate evaluated) | | | |")
    lines += [
        "",
        "## Search",
        "",
        f"- {len(records)} candidates ({evaluated} networks evaluated, "
        f"{len(records) - evaluated} repeats of an evaluated network); {fresh} fresh "
        f"latency measurements, {len(records) - fresh - predicted} answered by the latency "
        f"cache, {predicted} scored by the device's latency model",
        *([f"- latency model: {_model_text(records)}"] if settings.latency_mode == "model"
          else []),
        f"- {sum(r.feasible for r in records)} meet the target; the most-pruned allowed "
        f"network measures {measured.fastest_ms:.3f} ms",
        f"- latency: {_latency_text(settings, records)}",
        f"- {sessions} session(s); time in candidates "
        f"{sum(r.wall_seconds for r in records) / 60:.1f} min (latency "
        f"{sum(r.latency_seconds for r in records) / 60:.1f} min, accuracy proxy "
        f"{sum(r.accuracy_seconds for r in records) / 60:.1f} min)",
    ]
    if outcome.finished_early:
        lines.append(f"- the agent finished after {len(records)} of {settings.budget} "
                     f"candidates (nothing left to try)")
    lines += ["", "## Pareto front (accuracy proxy against measured latency)", "",
              "| step | latency (ms) | mAP@0.5 | reward | meets target | GFLOPs |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r.step} | {r.latency_ms:.3f} | {r.accuracy:.4f} | {r.reward:.4f} | "
              f"{'yes' if r.feasible else 'no'} | {r.gflops:.3f} |" for r in front]
    for title, path in plots:
        lines += ["", f"## {title}", "", f"![{title}]({path.name})"]
    lines += ["", "Every candidate: `candidates.jsonl`; the front: `pareto.csv`; settings: "
              "`config.yaml`; latency cache: `latency.sqlite` (unless `--latency-cache`).", ""]
    path = run / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def _model_text(records: list[Candidate]) -> str:
    """Why the model's candidates were measured, and how far its predictions were from the
    measurements where both exist."""
    reasons: dict[str, int] = {}
    errors = []
    for record in records:
        if record.measure_reason:
            reasons[record.measure_reason] = reasons.get(record.measure_reason, 0) + 1
        if record.prediction and record.measured and record.latency_ms > 0:
            errors.append(abs(record.prediction["ms"] / record.latency_ms - 1))
    why = "; ".join(f"{count} because {reason}" for reason, count in
                    sorted(reasons.items(), key=lambda item: -item[1])) or "none measured"
    if not errors:
        return f"measured {why}"
    inside = sum(1 for e in errors if e <= 0.10) / len(errors)
    return (f"measured {why}; on the {len(errors)} it also predicted, error mean "
            f"{sum(errors) / len(errors):.1%}, worst {max(errors):.1%}, {inside:.0%} within "
            f"+-10% (predicted candidates are hollow circles in the plot; every result above "
            f"is measured)")


def _base_latency_text(measured) -> str:
    attempts = ", ".join(f"{m:.3f}" for m in measured.latency_attempts)
    if measured.settled:
        return (f"{measured.latency_ms:.3f} ms, the lowest of two independent measurements "
                f"that agree (all taken: {attempts} ms)")
    if measured.settled is False:
        return (f"{measured.latency_ms:.3f} ms, the lowest of independent measurements that "
                f"did NOT agree ({attempts} ms): the milliseconds here are uncertain, the "
                f"ratios are not")
    return f"{measured.latency_ms:.3f} ms, measured once (a run of an earlier release)"


def _latency_text(settings, records: list[Candidate]) -> str:
    noisy = [r for r in records if r.noise and r.repeat_of is None]
    how = ("each candidate timed interleaved with the base in one window; the reward uses the "
           "ratio x the base's latency" if settings.interleave
           else "each candidate timed alone (--no-interleave)")
    if not noisy:
        return how + "; no measurement was flagged noisy"
    listed = ", ".join(f"step {r.step} ({r.noise})" for r in noisy[:8])
    more = f" and {len(noisy) - 8} more" if len(noisy) > 8 else ""
    return f"{how}; {len(noisy)} flagged noisy (crosses in the Pareto plot): {listed}{more}"


def _device_text(latency: dict) -> str:
    device = latency.get("device") or {}
    parts = [device.get("board") or device.get("name") or "unknown device"]
    if device.get("threads"):
        parts.append(f"{device['threads']} thread(s)")
    return ", ".join(parts)
