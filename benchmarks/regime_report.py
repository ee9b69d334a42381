"""The regime benchmark's result file: the regimes tried with their checks, the sizes, where
the time went, per-target tables and the Pareto plot, and issue 26's goals, each met or
missed as decided before the run."""

from __future__ import annotations

import statistics
from pathlib import Path

from search_goals import LATENCY_TOLERANCE, verdict
from search_report import plot, runs_table, step_minutes, target_table

# issue 26's goals, decided before running
LOSS_AT = {2.0: 0.02, 4.0: 0.05}  # the fine-tuned searched network's loss to the base
RIVAL_MARGIN = 0.03  # over every from-scratch rival at equal or lower latency
GOAL_TAU = 0.6  # the weight-sharing proxy's Kendall tau in the regime


def regimes_tried(root: Path) -> list[str]:
    """Every regime with a finished check in the work folder (a failed one stays listed)."""
    import json

    from edgeprune.search.regime import Check

    lines = ["| regime | passed | (a) converged | (b) latency follows compute | "
             "(c) base beats yolov3-tiny | (d) yolov3-tiny against the targets |",
             "|---|---|---|---|---|---|"]
    for path in sorted(root.glob("*/runs/regime/check/benchmark.json")):
        checks = json.loads(path.read_text())
        cells = [f"{Check(**c).mark()}: {c['measured']}" for c in checks["checks"]]
        lines.append(f"| {path.parents[3].name} | {'yes' if checks['passed'] else 'no'} | "
                     + " | ".join(cells) + " |")
    return lines


def goals(state: dict, agent: str) -> list[str]:
    search, lines = state["search"], []
    base = search["base"]
    results = []
    lines.append(f"1. The fine-tuned searched network (`{agent}`, mean of seeds) loses <= "
                 + " / ".join(f"{v * 100:g} points at {t:g}x" for t, v in LOSS_AT.items())
                 + " mAP@0.5 to the base:")
    for target, allowed in LOSS_AT.items():
        mine = [r for r in search["runs"] if r["agent"] == agent and r["target"] == target]
        if not mine:
            lines.append(f"   - {target:g}x: not run")
            results.append(None)
            continue
        loss = base["map50"] - statistics.fmean(r["map50"] for r in mine)
        results.append(loss <= allowed)
        lines.append(f"   - {target:g}x: base {base['map50']:.4f}, searched "
                     f"{statistics.fmean(r['map50'] for r in mine):.4f} ({len(mine)} seeds): "
                     f"loses {loss * 100:.1f} points -> {verdict(results[-1])}")
    lines.append(f"2. It beats every from-scratch rival by >= {RIVAL_MARGIN * 100:g} points at "
                 f"equal or lower measured latency (at most {LATENCY_TOLERANCE:.0%} slower), at "
                 f"both targets:")
    for target in LOSS_AT:
        mine = [r for r in search["runs"] if r["agent"] == agent and r["target"] == target]
        rivals = [m for m in search["scratch"] if m["target"] == target]
        if not mine or not rivals:
            lines.append(f"   - {target:g}x: not run")
            results.append(None)
            continue
        ours_map = statistics.fmean(r["map50"] for r in mine)
        ours_ms = statistics.fmean(r["ms"] for r in mine)
        for rival in rivals:
            gap, slower = ours_map - rival["map50"], ours_ms / rival["ms"] - 1
            results.append(gap >= RIVAL_MARGIN and slower <= LATENCY_TOLERANCE)
            lines.append(f"   - {target:g}x vs {rival['name']} ({rival['map50']:.4f} at "
                         f"{rival['ms']:.2f} ms): {gap * 100:+.1f} points, latency "
                         f"{slower:+.1%} -> {verdict(results[-1])}")
    proxy = state.get("proxy")
    if proxy is None:
        lines.append(f"3. The proxy's Kendall tau >= {GOAL_TAU}: {verdict(None)} (stage `proxy` "
                     f"not run)")
    else:
        lines.append(f"3. The weight-sharing proxy's Kendall tau >= {GOAL_TAU} on this base "
                     f"({proxy['candidates']} candidates): {proxy['tau']:.3f} (inside the 2x "
                     f"band {proxy['band_tau']:.3f}) -> {verdict(proxy['tau'] >= GOAL_TAU)}")
    return lines


def write_report(args, work, state: dict, recorded: dict, label: str, agent: str) -> None:
    """The result file: `label` names the regime (its folder), `agent` the search's default
    agent (both from regime.py, which imports this module)."""
    regime = state.get("regime")
    lines = ["# Pruning in a regime that pays: converged base, latency that follows compute, "
             "fine-tuning with time", "",
             f"Recorded {recorded['recorded']} by `{recorded['command']}` (commit "
             f"{recorded['commit']}; WORK = `{args.work}`).", "",
             "## Machine", "", f"- {recorded['machine']}"]
    search = state.get("search")
    if search:
        lines += [f"- load, {when}: `{line}`" for when, line in search["loads"].items()]
    lines += ["", "## Regimes tried (`edgeprune regime`)", "", *regimes_tried(args.work), ""]
    if regime is None:
        lines += ["Stage `regime` not run yet.", ""]
    elif not regime["passed"]:
        lines += [f"The regime `{label}` fails a check: no search was run in it. "
                  f"Change the regime (--width, --imgsz, --images, --max-epochs), not the "
                  f"goals.", ""]
    if search:
        base = search["base"]
        lines += [
            "## Sizes", "",
            f"- data: `edgeprune data synth` sim, {args.images} images (80% train, "
            f"{base['images']} val), seed 0",
            f"- base: yolov3 width {args.width:g} at {args.imgsz} px, `train --plateau "
            f"{args.plateau}` (at most {args.max_epochs} epochs): stopped after "
            f"{search['base_info']['epochs']} epochs, "
            f"{search['base_info']['train_seconds'] / 60:.1f} min",
            f"- weight-sharing network {args.supernet_epochs:g} epochs: "
            f"{search['supernet_info']['train_seconds'] / 60:.1f} min",
            f"- searches: `{agent}` seeds 0..{args.seeds - 1} and `uniform`, budget "
            f"{args.budget}, default latency mode, {args.val_images}-image val subset, "
            f"1 thread",
            f"- fine-tuning: `finetune --teacher base`, default share: "
            f"{search['finetune_epochs']} epochs; scratch rivals "
            f"{search['scratch_epochs']} epochs (base + fine-tuning)",
            f"- latency columns: side by side after all runs, ONNX Runtime CPU 1 thread, "
            f"{args.rounds} rounds, median; base {base['ms']:.2f} ms", "",
            "## Where the time went", "", *step_minutes(search), "",
            "## Results (mean +- std over seeds)", ""]
        for target in args.targets:
            lines += target_table(target, [r for r in search["runs"] if r["target"] == target],
                                  [m for m in search["scratch"] if m["target"] == target],
                                  base)
        picture = plot(search["runs"], search["scratch"], base, args.out.with_suffix(".png"))
        lines += [f"![Pareto: mAP vs measured latency]({picture.name})", "",
                  "## Goals (issue 26; decided before the run)", "",
                  *goals(state, agent), "",
                  "## Every run", "", *runs_table(search["runs"]), ""]
    proxy = state.get("proxy")
    if proxy:
        lines += ["## Proxy fidelity on this base", "",
                  f"`{proxy['command']}` ({proxy['seconds'] / 60:.0f} min): Kendall tau "
                  f"{proxy['tau']:.3f}, inside the 2x band {proxy['band_tau']:.3f}; its own "
                  f"report: `{proxy['report']}`", ""]
    if search:
        lines += ["## Commands", "", "<details><summary>every edgeprune command</summary>", "",
                  "```sh", *dict.fromkeys(search["commands"]), "```", "", "</details>", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
