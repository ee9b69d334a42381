"""Benchmark: train yolov3 (width 0.25, 320 px) on generated sim data on this CPU.

Runs the documented user commands (data synth, train, val) as subprocesses, so what is timed
is exactly what a user runs, and records mAP@0.5 on sim val and on real val (the same scenes
through the camera model) and the sim-to-real gap, with the machine and its load.

    .venv/bin/python benchmarks/train_synth.py     # writes benchmarks/results/train_synth.md
    .venv/bin/python benchmarks/train_synth.py --epochs 1 --images 100 --out /tmp/quick.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine_line, uptime  # noqa: E402

EDGEPRUNE = [str(Path(sys.executable).parent / "edgeprune")]  # the installed console script
TARGET_MAP50 = 0.6
TARGET_MINUTES = 20.0


def run(command: list[str], log: Path | None = None) -> tuple[str, float, float]:
    """Run `command`; return (stdout, wall seconds, CPU seconds of it and its children).
    Stops the benchmark if it fails."""
    began = time.perf_counter()
    cpu_before = _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    cpu = _children_cpu() - cpu_before
    if log is not None:
        log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {shlex.join(command)}\n{done.stdout}\n"
                 f"{done.stderr}")
    return done.stdout, seconds, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def shown(command: list[str]) -> str:
    """The command as a user types it."""
    return "edgeprune " + shlex.join(command[len(EDGEPRUNE):])



def torch_line() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return f"torch {torch.__version__} ({torch.get_num_threads()} threads); GPU: {gpu}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgeprune-bench-train"),
                        help="Folder for the generated data and the run.")
    parser.add_argument("--images", type=int, default=2000, help="Generated images per domain "
                        "(80%% train, 20%% val).")
    parser.add_argument("--epochs", type=int, default=6,
                        help="The documented command's (docs/training.md).")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="Passed to edgeprune train (for a machine shared with busy "
                        "processes; leave it out on a quiet one).")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "train_synth.md")
    args = parser.parse_args()

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    load_start = uptime()
    data = {}
    commands = []
    for domain in ("sim", "real"):
        folder = work / f"{domain}-{args.images}-{args.seed}"
        command = [*EDGEPRUNE, "data", "synth", "--out", str(folder), "--domain", domain,
                   "--images", str(args.images), "--seed", str(args.seed), "--force"]
        run(command)
        commands.append(shown(command))
        data[domain] = folder / "data.yaml"

    run_dir = work / "run"
    train = [*EDGEPRUNE, "train", "--data", str(data["sim"]), "--model", "yolov3", "--width",
             "0.25", "--imgsz", "320", "--out", str(run_dir)]
    if args.epochs:
        train += ["--epochs", str(args.epochs)]
    if args.batch:
        train += ["--batch", str(args.batch)]
    if args.threads:
        train += ["--torch-threads", str(args.threads)]
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    _, train_seconds, train_cpu = run(train, work / "train.log")
    commands.append(shown(train))
    load_after_train = uptime()

    results = {}
    for domain in ("sim", "real"):
        command = [*EDGEPRUNE, "val", "--data", str(data[domain]), "--weights",
                   str(run_dir / "best.pt"), "--json", "--name", f"bench-{domain}"]
        output, _, _ = run(command)
        commands.append(shown(command))
        results[domain] = json.loads(output)
    history = (run_dir / "results.csv").read_text().strip().splitlines()
    write_report(args, torch_line(), commands, (train_seconds, train_cpu), results, history,
                 (load_start, load_after_train, uptime()))


def write_report(args, info, commands, train_time, results, history, loads) -> None:
    train_seconds, train_cpu = train_time
    sim, real = results["sim"]["map50"], results["real"]["map50"]
    minutes = train_seconds / 60
    met = sim >= TARGET_MAP50 and minutes < TARGET_MINUTES
    verdict = ("met" if met else "MISSED") + (f" (sim mAP@0.5 {sim:.3f} vs >= {TARGET_MAP50}; "
                                              f"{minutes:.1f} min vs < {TARGET_MINUTES:.0f})")
    lines = [
        "# Training benchmark: yolov3 width 0.25, 320 px, generated sim data, CPU",
        "",
        f"Recorded {dt.datetime.now().isoformat(timespec='seconds')} by "
        f"`{shlex.join(['.venv/bin/python', 'benchmarks/train_synth.py', *sys.argv[1:]])}`.",
        "",
        "## Machine",
        "",
        f"- {machine_line()}",
        f"- {info}",
        f"- at start: `{loads[0]}`",
        f"- after training: `{loads[1]}`",
        f"- at the end: `{loads[2]}`",
        "",
        "## Commands",
        "",
        "```sh",
        *commands,
        "```",
        "",
        "## Result",
        "",
        f"Target (sim mAP@0.5 >= {TARGET_MAP50} in under {TARGET_MINUTES:.0f} minutes): "
        f"**{verdict}**.",
        "",
        "| | value |",
        "|---|---|",
        f"| training wall time (`edgeprune train`, validation every epoch included) | "
        f"{minutes:.1f} min |",
        f"| CPU time of the training process and its data workers | {train_cpu / 60:.1f} min "
        f"({train_cpu / train_seconds:.2f} cores busy on average) |",
        f"| mAP@0.5, sim val ({results['sim']['images']} images) | {sim:.4f} |",
        f"| mAP@0.5:0.95, sim val | {results['sim']['map50_95']:.4f} |",
        f"| mAP@0.5, real val (same scenes through the camera model) | {real:.4f} |",
        f"| mAP@0.5:0.95, real val | {results['real']['map50_95']:.4f} |",
        f"| sim-to-real gap, mAP@0.5 | {sim - real:+.4f} ({(sim - real) / max(sim, 1e-9):.0%} "
        f"of sim) |",
        f"| detector speed on sim val (torch, CPU, batch 8) | "
        f"{results['sim']['images_per_second']:.1f} images/s |",
        "",
        "Per class, mAP@0.5 (sim / real):",
        "",
        "| class | sim | real |",
        "|---|---|---|",
    ]
    for a, b in zip(results["sim"]["classes"], results["real"]["classes"], strict=True):
        lines.append(f"| {a['name']} | {_num(a['ap50'])} | {_num(b['ap50'])} |")
    lines += ["", "Per epoch (`results.csv` of the run):", "", "```", *history, "```", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
