"""The search-agents benchmark's tables, Pareto plot and result file."""

from __future__ import annotations

import statistics
from pathlib import Path

from search_goals import (
    LATENCY_TOLERANCE,
    RL_AGENTS,
    Group,
    goal_latency_vs_flops,
    goal_rl_vs_baselines,
    goal_scratch,
)

MARKERS = {"flops": "v", "random": "x", "uniform": "s", "halp": "D", "evolution": "^"}
RIVAL_MARKERS = {"yolov3": "P", "yolov3-tiny": "X", "searched": "*", "yolov8": "h"}


def mean_std(values: list[float], digits: int = 4) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def groups_of(runs: list[dict], key: str) -> dict[float, dict[str, Group]]:
    """target -> name -> Group over `runs` (search runs by agent, or scratch models)."""
    targets: dict[float, dict[str, Group]] = {}
    for run in runs:
        groups = targets.setdefault(run["target"], {})
        group = groups.setdefault(run[key], Group(run[key], [], [], run["target_ms"]))
        group.maps.append(run["map50"])
        group.ms.append(run["ms"])
    return targets


def target_table(target: float, runs: list[dict], scratch: list[dict], base: dict) -> list[str]:
    lines = [
        f"### {target:g}x (target {base['ms'] / target:.2f} ms side by side)", "",
        "| agent | kind | runs | mAP@0.5 fine-tuned | mAP@0.5:0.95 | latency ms (side by side) "
        "| speedup | meets target | proxy mAP@0.5 | search min | candidates (measured, noisy) "
        "| fine-tune min |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        f"| base | | 1 | {base['map50']:.4f} | {base['map50_95']:.4f} | {base['ms']:.2f} | "
        f"1.00x | | | | | |"]
    agents = list(dict.fromkeys(r["agent"] for r in runs))
    for agent in agents:
        mine = [r for r in runs if r["agent"] == agent]
        kind = "RL" if agent in RL_AGENTS else "baseline"
        lines.append(
            f"| {agent} | {kind} | {len(mine)} | {mean_std([r['map50'] for r in mine])} | "
            f"{mean_std([r['map50_95'] for r in mine])} | "
            f"{mean_std([r['ms'] for r in mine], 2)} | "
            f"{mean_std([base['ms'] / r['ms'] for r in mine], 2)}x | "
            f"{sum(r['meets'] for r in mine)}/{len(mine)} | "
            f"{mean_std([r['proxy_map50'] for r in mine])} | "
            f"{mean_std([r['search_seconds'] / 60 for r in mine], 1)} | "
            f"{statistics.fmean(r['candidates'] for r in mine):.0f} "
            f"({sum(r['measured'] for r in mine)}, {sum(r['noisy'] for r in mine)}) | "
            f"{mean_std([r['finetune_seconds'] / 60 for r in mine], 1)} |")
    for model in scratch:
        lines.append(
            f"| {model['name']} | scratch | 1 | {model['map50']:.4f} | {model['map50_95']:.4f} "
            f"| {model['ms']:.2f} | {base['ms'] / model['ms']:.2f}x | "
            f"{'1/1' if model['meets'] else '0/1'} | | | | "
            f"{model['train_seconds'] / 60:.1f} (training) |")
    return [*lines, ""]


def runs_table(runs: list[dict]) -> list[str]:
    lines = ["| run | mAP@0.5 | latency ms | speedup | meets | proxy mAP@0.5 | search latency "
             "ms (target) | best step | search min | fine-tune min |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for run in runs:
        lines.append(
            f"| {run['name']} | {run['map50']:.4f} | {run['ms']:.2f} | {run['speedup']:.2f}x "
            f"| {'yes' if run['meets'] else 'no'} | {run['proxy_map50']:.4f} | "
            f"{run['search_latency_ms']:.2f} ({run['search_target_ms']:.2f}) | "
            f"{run['best_step']} | {run['search_seconds'] / 60:.1f} | "
            f"{run['finetune_seconds'] / 60:.1f} |")
    return lines


def goals(runs: list[dict], scratch: list[dict]) -> list[str]:
    targets = groups_of(runs, "agent")
    trained = groups_of(scratch, "name")
    families = {m["name"]: m["model"] for m in scratch}
    return [*goal_rl_vs_baselines(targets), *goal_latency_vs_flops(targets),
            *goal_scratch(targets, trained, families)]


def plot(runs: list[dict], scratch: list[dict], base: dict, path: Path) -> Path:
    from edgeprune.plotting import pyplot, save_figure

    plt = pyplot()
    targets = list(dict.fromkeys(r["target"] for r in [*runs, *scratch]))
    figure, axes = plt.subplots(1, max(1, len(targets)), figsize=(6.2 * max(1, len(targets)),
                                                                  4.8), squeeze=False)
    colours = plt.get_cmap("tab10")
    agents = list(dict.fromkeys(r["agent"] for r in runs))
    for axis, target in zip(axes[0], targets, strict=False):
        for number, agent in enumerate(agents):
            mine = [r for r in runs if r["agent"] == agent and r["target"] == target]
            if not mine:
                continue
            xs, ys = [r["ms"] for r in mine], [r["map50"] for r in mine]
            marker, colour = MARKERS.get(agent, "o"), colours(number % 10)
            if len(mine) > 1:
                axis.scatter(xs, ys, s=14, marker=marker, color=colour, alpha=0.35)
            axis.errorbar(statistics.fmean(xs), statistics.fmean(ys),
                          xerr=statistics.stdev(xs) if len(xs) > 1 else None,
                          yerr=statistics.stdev(ys) if len(ys) > 1 else None,
                          fmt=marker, color=colour, markersize=7, capsize=3,
                          label=f"{agent} ({len(mine)})")
        for model in (m for m in scratch if m["target"] == target):
            axis.scatter(model["ms"], model["map50"], s=80, color="black",
                         marker=RIVAL_MARKERS.get(model["model"], "X"),
                         label=f"scratch {model['name']}")
        # the base sits far to the right: a line at its mAP keeps the panel on the targets
        axis.axhline(base["map50"], color="goldenrod", linestyle=":", linewidth=1.5,
                     label=f"base: mAP {base['map50']:.3f} at {base['ms']:.2f} ms")
        axis.axvline(base["ms"] / target, color="grey", linestyle="--", linewidth=1)
        axis.axvspan(base["ms"] / target, base["ms"] / target * (1 + LATENCY_TOLERANCE),
                     color="grey", alpha=0.15)
        axis.set_title(f"target {target:g}x (dashed: target, band: +{LATENCY_TOLERANCE:.0%})",
                       fontsize=9)
        axis.set_xlabel("latency ms, side by side (ort-cpu, 1 thread)")
        axis.set_ylabel("mAP@0.5 after fine-tuning (sim val)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="lower right")
    return save_figure(figure, path)


def step_minutes(context: dict) -> list[str]:
    """Where the time went (wall minutes over all sessions, and CPU minutes of the finishing
    session of each piece)."""
    rows = [("data synth", [context["data_timing"]]), ("base training", [context["base_info"]]),
            ("weight-sharing network", [context["supernet_info"]]),
            ("searches", [r["search_info"] for r in context["runs"]]),
            ("fine-tunings", [r["finetune_info"] for r in context["runs"]]),
            ("scratch models (width matching + training)",
             [m["info"] for m in context["scratch"]])]
    lines = ["| piece | count | wall min | CPU min (finishing session) |", "|---|---:|---:|---:|"]
    for label, infos in rows:
        wall = sum(i.get("wall_seconds", i.get("seconds", 0.0)) for i in infos)
        cpu = sum(i.get("cpu_seconds", 0.0) for i in infos)
        lines.append(f"| {label} | {len(infos)} | {wall / 60:.1f} | {cpu / 60:.1f} |")
    lines.append(f"| validation and side-by-side timing (this invocation) | | "
                 f"{context['final_seconds'] / 60:.1f} | |")
    return lines


def write_report(args, context: dict, sizing: str) -> None:
    runs, scratch, base = context["runs"], context["scratch"], context["base"]
    plot_path = plot(runs, scratch, base, args.out.with_suffix(".png"))
    first = next(iter(context["search_configs"].values()))
    probe = context["supernet_info"].get("probe")
    probe_text = ("; its probe (mAP@0.5 of sub-networks after BN re-estimation): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in probe.items())) if probe else ""
    lines = [
        "# Search agents vs baselines at equal budget, over seeds, two targets", "",
        f"Recorded {context['recorded']} by `{context['command']}` (commit {context['commit']}; "
        f"{context['seconds'] / 60:.0f} min this invocation; WORK = `{args.work}`).", "",
        "## Machine", "", f"- {context['machine']}",
        *[f"- load, {when}: `{line}`" for when, line in context["loads"].items()],
        f"- {args.jobs} piece(s) at a time, each pinned to its own CPU with torch on one "
        f"thread; the data, the base and the weight-sharing network on all {args.jobs} "
        f"(OMP_NUM_THREADS = CPUs held).", "",
        "## Scope of this run", "",
        *([f"- {gap}" for gap in context["scope"]] or
          ["- the full design: targets 2x and 4x, 3 seeds per agent, budget >= 32."]), "",
        "## Sizes", "", sizing, "",
        f"- data: `edgeprune data synth` sim, {args.images} images at 640x480 (80% train, "
        f"{base['images']} val), seed 0",
        f"- base: yolov3 width {args.width:g} at {args.imgsz} px, from scratch until converged "
        f"(`train --plateau {args.plateau}`, at most {args.max_epochs}): "
        f"{context['base_info']['epochs']} epochs, "
        f"{context['base_info']['train_seconds'] / 60:.1f} min of training; "
        f"weight-sharing network (`edgeprune supernet train`, default form "
        f"`{first['proxy']}`) {args.supernet_epochs:g} epochs: "
        f"{context['supernet_info']['train_seconds'] / 60:.1f} min{probe_text}",
        f"- every search: `--supernet` proxy, budget {args.budget} candidates, the same "
        f"{args.val_images}-image val subset, BN re-estimation on {args.recal_batches} batches "
        f"of 8, ONNX Runtime 1 thread, latency mode `{first.get('latency_mode', '?')}`, reward "
        f"`{first['reward']['kind']}`, interleaved latency {first['interleave']}; seeds "
        f"0..{args.seeds - 1} for every agent but `uniform` and `halp` (deterministic, once)",
        f"- every best: `edgeprune finetune --teacher base` {context['finetune_epochs']} "
        f"epoch(s) with distillation, seed 0; then `edgeprune val` on the whole sim val split",
        f"- rivals from scratch, {context['scratch_epochs']} epochs each (base + fine-tuning; "
        f"the weight-sharing network's epochs are not counted): per target yolov3 and "
        f"yolov3-tiny at the widest width (at most 1) no slower than the target's best search "
        f"by proxy ({', '.join(sorted({m['matched_name'] for m in scratch}))}), that search's "
        f"architecture (`scratch --cfg`), and the widest YOLOv8 scale no slower than the "
        f"target (ultralytics in its own environment, ONNX scored by `edgeprune val`)",
        f"- latency columns: every final model timed side by side after all runs (ONNX Runtime "
        f"CPU, 1 thread, {args.rounds} interleaved rounds, median); base {base['ms']:.2f} ms; "
        f"a model within {LATENCY_TOLERANCE:.0%} of base/target meets the target", "",
        "## Where the time went", "", *step_minutes(context), "",
        "## Results (mean +- std over seeds)", ""]
    for target in context["targets"]:
        lines += target_table(target, [r for r in runs if r["target"] == target],
                              [m for m in scratch if m["target"] == target], base)
    lines += [f"![Pareto: mAP vs measured latency]({plot_path.name})", "",
              "## Goals (issue 27; decided before the run)", "", *goals(runs, scratch), "",
              "## Every run", "", *runs_table(runs), "",
              "## Commands", "", "<details><summary>every edgeprune command</summary>", "",
              "```sh", *dict.fromkeys(context["commands"]), "```", "", "</details>", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
