"""Benchmark: `edgeprune train` on 2 processes (torchrun, gloo, DDP) against 1 process, at the
same batch per optimizer step: 2 processes x 4 images vs 1 process x 8 images.

Decided before running: yolov3-tiny width 0.25 at 128 px, 96 generated images (sim, seed 0),
`--epochs 6 --batch 8`, seeds 0, 1, 2 for both. Per epoch, the training loss (box + obj + cls,
the mean over the epoch and, for 2 processes, over both) and mAP@0.5 on the val split: the
curves agree "within noise" when, epoch by epoch, the difference of the two means is within
twice the seed-to-seed spread (standard deviation over seeds, the larger of the two).

    .venv/bin/python benchmarks/ddp_loss_curve.py     # writes results/ddp_loss_curve.md
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import commit, cpu_share, machine_line, uptime  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
ONE = [sys.executable, "-m", "edgeprune"]
TWO = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
       "-m", "edgeprune"]


def train(work: Path, launcher: list[str], name: str, data: Path, args) -> list[dict]:
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    command = [*launcher, "train", "--data", str(data), "--model", "yolov3-tiny", "--width",
               str(args.width), "--imgsz", str(args.imgsz), "--epochs", str(args.epochs),
               "--batch", str(args.batch), "--workers", "0", "--seed", name.split("-s")[-1],
               "--out", str(out)]
    with (work / f"{name}.log").open("w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=ENV, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{name} failed: {(work / f'{name}.log').read_text()[-3000:]}")
    with (out / "results.csv").open() as handle:
        return [{"loss": float(r["box"]) + float(r["obj"]) + float(r["cls"]),
                 "map50": float(r["map50"]), "seconds": float(r["train_seconds"])}
                for r in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgeprune-bench-ddp"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "ddp_loss_curve.md")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    began, load_start = time.perf_counter(), uptime()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "data" / "data.yaml"
    if not data.is_file():
        from edgeprune.data.synth import generate_dataset

        generate_dataset(args.work / "data", images=96, seed=0, size=(args.imgsz, args.imgsz))
    curves: dict[str, list[list[dict]]] = {"1 process x 8": [], "2 processes x 4": []}
    for seed in args.seeds:  # alternated, so a load change hits both alike
        curves["1 process x 8"].append(train(args.work, ONE, f"one-s{seed}", data, args))
        curves["2 processes x 4"].append(train(args.work, TWO, f"two-s{seed}", data, args))
    args.out.write_text(report(args, curves, load_start, time.perf_counter() - began))
    print(args.out.read_text())


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def report(args, curves, load_start, seconds) -> str:
    one, two = curves.values()
    lines = [
        "# DDP: 2 processes vs 1 at the same batch per step",
        "",
        f"Recorded {dt.datetime.now().isoformat(timespec='seconds')}, commit {commit()}, by "
        f"`.venv/bin/python benchmarks/ddp_loss_curve.py` ({seconds / 60:.1f} min).",
        "",
        f"- {machine_line()}",
        f"- load, start: `{load_start}`; end: `{uptime()}`",
        f"- {cpu_share()}",
        f"- yolov3-tiny width {args.width} at {args.imgsz} px, 96 generated sim images "
        f"(80 train), {args.epochs} epochs, `--batch {args.batch}` (2 processes: "
        f"{args.batch // 2} each, gloo on CPU), seeds {', '.join(map(str, args.seeds))}, "
        f"OMP_NUM_THREADS=1",
        "",
        "| epoch | loss, 1 process (mean +- sd) | loss, 2 processes | difference | "
        "2 x larger sd | within noise | mAP@0.5 1 proc | mAP@0.5 2 procs |",
        "|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    agree = []
    for epoch in range(args.epochs):
        a = [run[epoch]["loss"] for run in one]
        b = [run[epoch]["loss"] for run in two]
        sd = max(spread(a), spread(b))
        diff = statistics.mean(b) - statistics.mean(a)
        agree.append(abs(diff) <= 2 * sd)
        lines.append(
            f"| {epoch + 1} | {statistics.mean(a):.4f} +- {spread(a):.4f} | "
            f"{statistics.mean(b):.4f} +- {spread(b):.4f} | {diff:+.4f} | "
            f"{2 * sd:.4f} | {'yes' if agree[-1] else 'NO'} | "
            f"{statistics.mean(r[epoch]['map50'] for r in one):.3f} | "
            f"{statistics.mean(r[epoch]['map50'] for r in two):.3f} |")
    epoch_s = [statistics.mean(r["seconds"] for r in run) for run in one]
    epoch_s2 = [statistics.mean(r["seconds"] for r in run) for run in two]
    lines += [
        "",
        f"- **same loss curve within noise: {'yes' if all(agree) else 'NO'}** "
        f"({sum(agree)} of {len(agree)} epochs)",
        f"- seconds per epoch (training only): 1 process {statistics.mean(epoch_s):.1f}, "
        f"2 processes {statistics.mean(epoch_s2):.1f} (both share this machine's 2 cores; "
        f"speed is not what this compares)",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
