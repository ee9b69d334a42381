"""Benchmark: interleaved ort-cpu timing with ONNX Runtime's default thread spinning vs with
spinning off (what the `ort-cpu` backend uses), and on one thread.

Decided before running (2026-12-02, after a probe on the demo's base showed the effect): the
demo's base architecture (yolov3 width 0.25, 5 classes, 320 px; latency does not depend on
the weights, so they are random here) and two candidates (uniform keep ratio 0.5 and 0.7),
each measured fresh, interleaved with the base, with the default protocol, in three
conditions: 2 intra-op threads with spinning (ONNX Runtime's default), 2 threads with
spinning off, 1 thread. The conditions alternate, `--rounds` times. Reported per condition
(mean over rounds and candidates): wall seconds per measurement, the ratio's 95% CI
half-width relative to the ratio, re-measured attempts, and the ratio of each candidate.

    .venv/bin/python benchmarks/latency_spinning.py   # -> results/latency_spinning.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import commit, machine_line, uptime  # noqa: E402

IMGSZ = 320
RATIOS = (0.5, 0.7)
# name -> (intra-op threads, spinning)
CONDITIONS = {"2 threads, spinning (ONNX Runtime's default)": (2, True),
              "2 threads, spinning off (ort-cpu)": (2, False),
              "1 thread": (1, False)}


def measure_all(rounds: int) -> dict[str, list[dict]]:
    import edgeprune.latency.backends.ort as ort_backend
    from edgeprune.latency import LatencyMeter, create_backend
    from edgeprune.models import create
    from edgeprune.prune import PruneSpec, pruned_cfg

    base = create("yolov3", num_classes=5, width=0.25, imgsz=IMGSZ).cfg
    candidates = {ratio: pruned_cfg(base, PruneSpec.uniform(ratio)) for ratio in RATIOS}
    rows: dict[str, list[dict]] = {name: [] for name in CONDITIONS}
    shipped = ort_backend.TIMING_SPINS
    try:
        for round_index in range(rounds):
            for name, (threads, spinning) in CONDITIONS.items():
                ort_backend.TIMING_SPINS = spinning
                meter = LatencyMeter(create_backend("ort-cpu", threads=threads), cache=None)
                meter.use_reference(base)
                for ratio, cfg in candidates.items():
                    began = time.perf_counter()
                    result = meter.measure(cfg, (1, 3, IMGSZ, IMGSZ))
                    low, high = result.reference["ratio_ci"]
                    rows[name].append({
                        "round": round_index, "keep": ratio, "seconds":
                        time.perf_counter() - began, "ratio": result.ratio,
                        "ci": (high - low) / 2 / result.ratio,
                        "remeasures": result.remeasures, "base_ms":
                        result.reference["median_ms"]})
                    print(name, rows[name][-1], flush=True)
                meter.close()
    finally:
        ort_backend.TIMING_SPINS = shipped
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "latency_spinning.md")
    args = parser.parse_args()
    load_before = uptime()
    rows = measure_all(args.rounds)
    load_after = uptime()
    lines = [
        "# Interleaved CPU timing: ONNX Runtime's thread spinning on and off",
        "",
        "Command: `" + " ".join([".venv/bin/python", "benchmarks/latency_spinning.py",
                                 *sys.argv[1:]]) + "`  ",
        f"Machine: {machine_line()}  ",
        f"Commit: {commit()}; {dt.datetime.now().isoformat(timespec='seconds')}  ",
        f"Load: before `{load_before}`, after `{load_after}`",
        "",
        f"yolov3 width 0.25 at {IMGSZ} px (the demo's base) and its uniform pruning at keep "
        f"{' and '.join(f'{r:g}' for r in RATIOS)}, each timed fresh, interleaved with the "
        f"base, with the default protocol (until the median's 95% CI is within +-2%, at most "
        f"20 s, an attempt with CV > 0.15 re-taken up to twice); {args.rounds} rounds, the "
        f"conditions alternating.",
        "",
        "| condition | s per measurement | ratio CI (+-, relative) | re-measured attempts "
        "| base ms | " + " | ".join(f"ratio, keep {r:g}" for r in RATIOS) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(RATIOS),
    ]
    for name, measured in rows.items():
        ratios = [np.array([m["ratio"] for m in measured if m["keep"] == r]) for r in RATIOS]
        lines.append(
            f"| {name} | {np.mean([m['seconds'] for m in measured]):.1f} | "
            f"{np.mean([m['ci'] for m in measured]):.1%} | "
            f"{np.mean([m['remeasures'] for m in measured]):.1f} | "
            f"{np.mean([m['base_ms'] for m in measured]):.2f} | "
            + " | ".join(f"{v.mean():.3f} +- {v.std():.3f}" for v in ratios) + " |")
    spinning, quiet = (rows[name] for name in list(CONDITIONS)[:2])
    lines += [
        "",
        f"Spinning off vs on, 2 threads: "
        f"{np.mean([m['seconds'] for m in spinning]) / np.mean([m['seconds'] for m in quiet]):.1f}x"
        f" less time per measurement, CI "
        f"{np.mean([m['ci'] for m in spinning]) / np.mean([m['ci'] for m in quiet]):.1f}x "
        f"narrower (means over {len(quiet)} measurements each).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
