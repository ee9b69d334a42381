"""Benchmark: the demo's trainings after the search side by side (one process each, the
cores shared evenly) against one after another (each with every core), on this CPU.

The demo runs fine-tuning and its two scratch models through
edgeprune.demo.parallel.run_side_by_side; this times that very function with three trainings
of a small yolov3 (the size of the demo's scratch models) both ways, alternating the order
pair by pair so that drift in the machine's speed falls on both, and reports the wall-time
ratio of each pair.

    .venv/bin/python benchmarks/parallel_training.py --data sim/data.yaml \
        --out benchmarks/results/parallel_training.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine_info import machine_line, uptime  # noqa: E402


def jobs(data: Path, folder: Path, args) -> list:
    from edgeprune.demo.parallel import TrainingJob
    from edgeprune.train.scratch import train_scratch

    made = []
    for seed in range(args.trainings):
        run = folder / f"seed{seed}"
        made.append(TrainingJob(
            f"seed {seed}", f"yolov3 width {args.width:g}, seed {seed}", train_scratch, run,
            args.epochs, args=(data, "yolov3", args.width, 1.0),
            kwargs={"imgsz": args.imgsz, "epochs": args.epochs, "batch": 16, "seed": seed,
                    "workers": None, "run": run}))
    return made


def timed(data: Path, slots: int, args) -> float:
    from rich.console import Console

    from edgeprune.demo.parallel import run_side_by_side

    folder = Path(tempfile.mkdtemp(prefix="parallel-training-"))
    try:
        began = time.perf_counter()
        run_side_by_side(jobs(data, folder, args), slots, Console(quiet=True))
        return time.perf_counter() - began
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    from edgeprune.demo.parallel import default_slots

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset YAML to train on")
    parser.add_argument("--width", type=float, default=0.3125)
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--trainings", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "parallel_training.md")
    args = parser.parse_args()
    slots = default_slots()
    load_before = uptime()
    ratios, seconds = [], {"side by side": [], "one after another": []}
    for pair in range(args.pairs):
        order = [slots, 1] if pair % 2 == 0 else [1, slots]
        pair_seconds = {}
        for mode in order:
            pair_seconds[mode] = timed(args.data.resolve(), mode, args)
            name = "side by side" if mode > 1 else "one after another"
            seconds[name].append(pair_seconds[mode])
            print(f"pair {pair + 1}: {name}: {pair_seconds[mode]:.1f} s", flush=True)
        ratios.append(pair_seconds[1] / pair_seconds[slots])
    command = "python benchmarks/parallel_training.py " + shlex.join(sys.argv[1:])
    lines = [
        "# The demo's trainings side by side or one after another",
        "",
        f"Recorded {dt.datetime.now().isoformat(timespec='seconds')} by `{command}`.",
        "",
        f"- machine: {machine_line()}",
        f"- load before: `{load_before}`",
        f"- load after: `{uptime()}`",
        "",
        f"{args.trainings} trainings of yolov3 width {args.width:g} at {args.imgsz} px, "
        f"{args.epochs} epochs each, batch 16, from scratch: side by side "
        f"({slots} processes, the cores shared evenly: edgeprune.demo.parallel) against one "
        f"after another in one process with torch's default threads; {args.pairs} pairs, "
        f"the order alternated.",
        "",
        "| | wall seconds (each pair) | median |",
        "|---|---|---|",
        *[f"| {name} | {', '.join(f'{s:.1f}' for s in values)} | "
          f"{statistics.median(values):.1f} |" for name, values in seconds.items()],
        "",
        f"One after another takes **{statistics.median(ratios):.2f}x** the wall time of side "
        f"by side (median of the pairs' ratios: {', '.join(f'{r:.2f}' for r in ratios)}).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
