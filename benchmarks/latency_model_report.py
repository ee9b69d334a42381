"""The report of benchmarks/latency_model.py: scores from the work folder's measurements,
results/latency_model.md and its plot, and the simulated Jetson search.

The Jetson figures are a SIMULATION from published costs, not a measurement (no Jetson here):
a candidate's TensorRT engine build takes 5-7 minutes for a nano-size YOLO in FP16 on Orin NX
/ AGX Orin (ultralytics PR #25232) and over 30 minutes for yolov4-416 on a Nano
(jkjung-avt/tensorrt_demos); a timing cache cuts a rebuild of the same layers from 565 s to
11.5 s (ultralytics/yolov5 PR #13386). The simulation takes 3 minutes a candidate (the low end
of the Orin figures, cheaper than a Nano) plus 20 s of timing, and for a layer unit (a
one-layer engine, the same builder on a layer alone) 11.5 s, the timing-cached figure, since
a unit's build is a single layer's tactic selection; the counts of units and of measured
candidates are this benchmark's own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ENGINE_BUILD_S = 180.0  # a candidate's engine on an Orin (low end of 5-7 min, FP16)
TIMING_S = 20.0  # warm-up and timed runs of a candidate on the board
UNIT_BUILD_S = 11.5  # a one-layer engine (a timing-cached build: yolov5 PR #13386)
TARGETS = (0.5, 0.25)  # 2x and 4x, as ratios to the base


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    concordant = discordant = 0
    for i in range(len(a)):
        sign = np.sign(a[i + 1:] - a[i]) * np.sign(b[i + 1:] - b[i])
        concordant += int((sign > 0).sum())
        discordant += int((sign < 0).sum())
    total = concordant + discordant
    return (concordant - discordant) / total if total else float("nan")


def score_combination(folder: Path, bases: dict, curve_points: tuple[int, ...]) -> dict:
    """The learning curve of one base at one thread count: {n: scores}."""
    from edgeprune.latency.latency_model import LatencyModel, ModelKey
    from edgeprune.latency.lut import LatencyPredictor
    from edgeprune.models import create
    from edgeprune.prune.apply import plan_pruning
    from edgeprune.prune.space import prune_space
    from edgeprune.prune.spec import PruneSpec

    base_name, threads = folder.name.rsplit("-t", 1)
    name, width, imgsz = bases[base_name]
    cfg = create(name, num_classes=5, width=width, imgsz=imgsz).cfg
    space = prune_space(cfg)
    table = LatencyPredictor.from_json(json.loads((folder / "table.json").read_text()))
    rows = [json.loads(line) for line in (folder / "candidates.jsonl").read_text().splitlines()]
    for row in rows:
        row["cfg"] = plan_pruning(cfg, PruneSpec.from_dict(row["spec"]), space=space).cfg
    calibration = [r for r in rows if r["group"] == "calibration"]
    held_out = [r for r in rows if r["group"] != "calibration"]
    key = ModelKey("bench", "ort-cpu", (1, 3, imgsz, imgsz), "fp32", "base", "interleaved")
    curve = {}
    for n in curve_points:
        model = LatencyModel.create(key, table, cfg)
        model.add(cfg, 1.0, "base", refit=False)
        for index, row in enumerate(calibration[:n]):
            model.add(row["cfg"], row["ratio"], f"c{index}", refit=False)
        model.refit()
        predictions = [model.predict(r["cfg"]) for r in held_out]
        measured = np.array([r["ratio"] for r in held_out])
        predicted = np.array([p.ratio for p in predictions])
        errors = np.abs(predicted / measured - 1)
        scores = {"n": n, "held_out": len(held_out), "mean": float(errors.mean()),
                  "worst": float(errors.max()), "within5": float(np.mean(errors <= 0.05)),
                  "within10": float(np.mean(errors <= 0.10)),
                  "tau": kendall_tau(predicted, measured), "width": model.width,
                  "covered": float(np.mean([p.low <= m <= p.high
                                            for p, m in zip(predictions, measured,
                                                            strict=True)])),
                  "groups": {g: float(np.mean(errors[[r["group"] == g for r in held_out]]))
                             for g in ("random", "agent", "uniform")}}
        for target in TARGETS:
            point = np.mean((predicted <= target) == (measured <= target))
            straddles = np.array([p.low <= target < p.high for p in predictions])
            decided = np.where(straddles, True, (predicted <= target) == (measured <= target))
            scores[f"agree{target}"] = float(point)
            scores[f"decided{target}"] = float(np.mean(decided))
            scores[f"measured{target}"] = float(np.mean(straddles))
        curve[n] = scores
    units = sum(len(v) for v in table.entries.values())
    seconds = [r["seconds"] for r in rows]
    return {"curve": curve, "units": units, "table_s": table.meta.get("seconds", 0.0),
            "candidate_s": float(np.median(seconds)), "threads": int(threads),
            "base": base_name}


def search_summary(folder: Path) -> dict:
    from edgeprune.search.measured_base import load_measured_base
    from edgeprune.search.records import CandidateLog
    from edgeprune.search.results import best_record

    records = CandidateLog(folder).read()
    base = load_measured_base(folder)
    units_s = 0.0
    model_file = folder / "latency_model.json"
    if model_file.is_file():
        units_s = float(json.loads(model_file.read_text())["table"]["meta"].get("seconds", 0))
    latency_s = sum(r.latency_seconds for r in records)
    best = best_record(records)
    return {"candidates": len(records), "measured": sum(r.measured_now for r in records),
            "predicted": sum(r.latency_predicted for r in records), "units_s": units_s,
            "latency_s": latency_s, "device_s": latency_s + units_s,
            "accuracy_s": sum(r.accuracy_seconds for r in records),
            "best": best, "target_ms": base.target_ms, "base_ms": base.latency_ms,
            "reasons": _reasons(records)}


def _reasons(records) -> dict:
    counts: dict[str, int] = {}
    for record in records:
        if record.measure_reason:
            counts[record.measure_reason] = counts.get(record.measure_reason, 0) + 1
    return counts


def jetson_hours(units: int, measured: int, candidates: int = 300) -> tuple[float, float]:
    """(all measured, with the model) device hours of a search on a Jetson: SIMULATED."""
    every = candidates * (ENGINE_BUILD_S + TIMING_S) / 3600
    model = (units * UNIT_BUILD_S + measured * (ENGINE_BUILD_S + TIMING_S)) / 3600
    return every, model


def write_report(work: Path, out: Path, machine: str, config: dict) -> None:
    """`config`: the run's sizes (bases, threads, curve, round_to), as the script set them."""
    combos = [score_combination(work / "accuracy" / f"{base}-t{threads}", config["bases"],
                                config["curve"])
              for base in config["bases"] for threads in config["threads"]
              if (work / "accuracy" / f"{base}-t{threads}" / "table.json").is_file()]
    searches = {mode: search_summary(work / "search" / "search" / mode)
                for mode in ("measure", "model")
                if (work / "search" / "search" / mode / "report.md").is_file()}
    loads = [json.loads(line) for line in (work / "loads.jsonl").read_text().splitlines()]
    lines = ["# Latency model: predictions against the device's measurements", "",
             f"Command: `python benchmarks/latency_model.py --work {work}` (stages `accuracy`, "
             f"`search`, `report`)  ", f"Machine: {machine}  ",
             *[f"Load {k} (stage {entry['stage']}): `{entry[k]}`  "
               for entry in loads for k in ("before", "after") if k in entry], "",
             f"Channels are multiples of {config['round_to']}; every candidate is timed "
             f"interleaved with its base (the ratio a search compares), protocol target "
             f"+-2%.", ""]
    missing = [f"{base} at {threads} thread(s)" for base in config["bases"]
               for threads in config["threads"]
               if not (work / "accuracy" / f"{base}-t{threads}" / "table.json").is_file()]
    if missing:
        lines += [f"**Not measured in this work folder:** {', '.join(missing)} (the accuracy "
                  f"stage was run for the others only; `--bases`/`--threads` add them).", ""]
    lines += accuracy_lines(combos)
    if combos:
        plot = out.with_suffix(".png")
        plot_learning_curves(combos, plot)
        lines += ["", f"![learning curves]({plot.name})", ""]
    lines += search_lines(searches, combos)
    lines += goal_lines(combos, searches)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def accuracy_lines(combos: list[dict]) -> list[str]:
    lines = ["## Held-out candidates (60 random, 60 agent-sampled, 30 uniform per row)", "",
             "| base | threads | n whole networks | mean err | worst | within 5% | within 10% | "
             "Kendall tau | interval +- | covered | decision 2x (point / as searched, "
             "measured) | decision 4x |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for combo in combos:
        for n, s in combo["curve"].items():
            lines.append(
                f"| {combo['base']} | {combo['threads']} | {n} | {s['mean']:.1%} | "
                f"{s['worst']:.1%} | {s['within5']:.0%} | {s['within10']:.0%} | "
                f"{s['tau']:.3f} | {s['width']:.1%} | {s['covered']:.0%} | "
                f"{s['agree0.5']:.1%} / {s['decided0.5']:.1%}, {s['measured0.5']:.0%} | "
                f"{s['agree0.25']:.1%} / {s['decided0.25']:.1%}, {s['measured0.25']:.0%} |")
    last = max(combos[0]["curve"]) if combos else 0
    lines += ["", f"Mean error by kind of candidate at n = {last}: " + "; ".join(
        f"{c['base']} {c['threads']}T: " + ", ".join(
            f"{g} {v:.1%}" for g, v in c["curve"][last]["groups"].items()) for c in combos),
        "", "Unit tables: " + "; ".join(
            f"{c['base']} {c['threads']}T {c['units']} units in {c['table_s']:.0f} s "
            f"(a candidate's measurement: median {c['candidate_s']:.1f} s)" for c in combos)]
    return lines


def search_lines(searches: dict, combos: list[dict]) -> list[str]:
    lines = ["", "## A 300-candidate search, measuring all against the model", ""]
    if len(searches) < 2:
        return lines + ["(not run yet)"]
    lines += ["| mode | candidates | measured | predicted | device s (units + candidates) | "
              "device s per candidate | best: proxy mAP@0.5 | best: measured ms (target) |",
              "|---|---|---|---|---|---|---|---|"]
    for mode, s in searches.items():
        best = s["best"]
        lines.append(f"| {mode} | {s['candidates']} | {s['measured']} | {s['predicted']} | "
                     f"{s['units_s']:.0f} + {s['latency_s']:.0f} | "
                     f"{s['device_s'] / s['candidates']:.2f} | {best.accuracy:.4f} | "
                     f"{best.latency_ms:.3f} ({s['target_ms']:.3f}) |")
    ratio = searches["measure"]["device_s"] / max(searches["model"]["device_s"], 1e-9)
    lines += ["", f"Device time per candidate: {ratio:.1f}x lower with the model. Why the "
              f"model's candidates were measured: " + "; ".join(
                  f"{count} {reason}" for reason, count in searches["model"]["reasons"].items()),
              "", "## A 300-candidate search on a Jetson: SIMULATED from published costs", "",
              (sys.modules[__name__].__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    units = max((c["units"] for c in combos if c["base"] == "w0.5-160"), default=0)
    every, model = jetson_hours(units, searches["model"]["measured"])
    lines += [f"All measured: {every:.1f} device hours; with the model ({units} units, "
              f"{searches['model']['measured']} candidates measured as in the search above): "
              f"{model:.1f} device hours (simulation)."]
    return lines


def goal_lines(combos: list[dict], searches: dict) -> list[str]:
    lines = ["", "## Goals (decided before running)", ""]
    last = max(combos[0]["curve"]) if combos else 0
    for combo in (c for c in combos if c["threads"] == 1):
        s = combo["curve"][last]
        met = s["within10"] >= 0.95 and s["within5"] >= 0.80 and s["tau"] >= 0.95
        lines.append(f"- {combo['base']}, 1 thread, n = {last}: within 10% {s['within10']:.0%} "
                     f"(>= 95%), within 5% {s['within5']:.0%} (>= 80%), tau {s['tau']:.3f} "
                     f"(>= 0.95): **{'met' if met else 'missed'}**")
    for combo in combos:
        s = combo["curve"][last]
        worst = min(s["decided0.5"], s["decided0.25"])
        lines.append(f"- decision as searched, {combo['base']} {combo['threads']}T: "
                     f"{worst:.1%} (>= 98%): **{'met' if worst >= 0.98 else 'missed'}**")
    if len(searches) == 2:
        ratio = searches["measure"]["device_s"] / max(searches["model"]["device_s"], 1e-9)
        a, b = searches["measure"]["best"], searches["model"]["best"]
        as_good = b.feasible and b.accuracy >= a.accuracy - 0.01
        lines.append(f"- device time per candidate {ratio:.1f}x lower (>= 8x), best "
                     f"{b.accuracy:.4f} vs {a.accuracy:.4f}, meets the target: "
                     f"{'yes' if b.feasible else 'no'}: **"
                     f"{'met' if ratio >= 8 and as_good else 'missed'}**")
        units = max((c["units"] for c in combos if c["base"] == "w0.5-160"), default=0)
        _, model = jetson_hours(units, searches["model"]["measured"])
        lines.append(f"- simulated Jetson search {model:.1f} device hours (<= 2): "
                     f"**{'met' if model <= 2 else 'missed'}**")
    return lines


def plot_learning_curves(combos: list[dict], path: Path) -> None:
    """Share of held-out candidates within +-5% and +-10% against the whole networks the
    model was calibrated on, one line per base and thread count."""
    from edgeprune.plotting import pyplot, save_figure

    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for axis, key, title in ((axes[0], "within5", "within +-5%"),
                             (axes[1], "within10", "within +-10%")):
        for combo in combos:
            ns = list(combo["curve"])
            axis.plot(ns, [combo["curve"][n][key] for n in ns], "o-",
                      label=f"{combo['base']}, {combo['threads']} thread(s)")
        axis.axhline(0.8 if key == "within5" else 0.95, color="tab:red", ls="--", lw=1,
                     label="goal (1 thread)")
        axis.set_xlabel("whole networks measured (calibration)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("share of held-out candidates")
    axes[1].legend(fontsize=7)
    save_figure(figure, path)
