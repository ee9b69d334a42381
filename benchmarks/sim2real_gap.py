"""Benchmark: sim-to-real gap and camera-corruption robustness, base vs pruned, side by side.

Runs the documented user commands as subprocesses (what is timed and recorded is what a user
runs): generated sim and real data (same seed: same scenes, the gap is the camera), a base
yolov3 (width 0.25, 320 px) trained on sim, a pruned model, then `edgeprune eval sim2real`
with both. The default data and training match the search benchmark's (2000 images, seed 0),
so `--base` can take that benchmark's base and `--pruned` its best model.

    .venv/bin/python benchmarks/sim2real_gap.py                  # everything, ~hours on a CPU
    .venv/bin/python benchmarks/sim2real_gap.py --base base.pt --pruned best.pt \
        --pruned-label search-best                                # evaluate given models
Without --pruned, the pruned model is `edgeprune prune --uniform 0.5` of the base (BN
statistics re-estimated) fine-tuned with `edgeprune train --weights pruned.pt`.
Steps whose output is already in --work are reused (and said so in the result file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import machine_line, uptime  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EDGEPRUNE = [str(Path(sys.executable).parent / "edgeprune")]


def run(command: list[str], log: Path) -> float:
    """Run `command` (output to `log`), return its seconds; stop the benchmark if it fails."""
    began = time.perf_counter()
    with log.open("w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {shown(command)}; see {log}")
    return time.perf_counter() - began


def shown(command: list[str]) -> str:
    return "edgeprune " + shlex.join(command[len(EDGEPRUNE):])


class Steps:
    """Runs or reuses each step and remembers what it did, for the result file."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.lines: list[str] = []

    def step(self, command: list[str], done: Path, log_name: str) -> None:
        if done.exists():
            self.lines.append(f"{shown(command)}   # reused: {done} was there")
            return
        seconds = run(command, self.work / f"{log_name}.log")
        self.lines.append(f"{shown(command)}   # {seconds / 60:.1f} min")


def prepare(args, steps: Steps) -> dict[str, Path]:
    work = args.work
    data = {}
    for domain in ("sim", "real"):
        folder = work / f"{domain}-{args.images}-{args.seed}"
        steps.step([*EDGEPRUNE, "data", "synth", "--out", str(folder), "--domain", domain,
                    "--images", str(args.images), "--seed", str(args.seed), "--force"],
                   folder / "data.yaml", f"synth-{domain}")
        data[domain] = folder / "data.yaml"
    train_common = ["--imgsz", "320", "--batch", "16", "--workers", "1", "--val-images", "200",
                    "--seed", str(args.seed)]
    base = args.base
    if base is None:
        base = work / "base" / "best.pt"
        steps.step([*EDGEPRUNE, "train", "--data", str(data["sim"]), "--model", "yolov3",
                    "--width", "0.25", "--epochs", str(args.epochs), *train_common,
                    "--out", str(work / "base")], base, "train-base")
    pruned = args.pruned
    if pruned is None:
        uniform = work / f"uniform{args.uniform}.pt"
        steps.step([*EDGEPRUNE, "prune", "--weights", str(base), "--uniform", str(args.uniform),
                    "--recal-batches", "20", "--data", str(data["sim"]), "-o", str(uniform),
                    "--out", str(work / "runs")], uniform, "prune")
        pruned = work / "pruned-ft" / "best.pt"
        steps.step([*EDGEPRUNE, "train", "--data", str(data["sim"]), "--weights", str(uniform),
                    "--epochs", str(args.finetune_epochs), *train_common,
                    "--out", str(work / "pruned-ft")], pruned, "finetune")
    return {"sim": data["sim"], "real": data["real"], "base": Path(base),
            "pruned": Path(pruned)}


def evaluate(args, inputs: dict[str, Path], steps: Steps) -> tuple[dict, float]:
    out = args.work / f"eval-{args.pruned_label}"
    base_link, pruned_link = args.work / "models" / "base.pt", \
        args.work / "models" / f"{args.pruned_label}.pt"
    base_link.parent.mkdir(parents=True, exist_ok=True)
    for link, target in ((base_link, inputs["base"]), (pruned_link, inputs["pruned"])):
        # links named after the role, so the report's model labels are base / LABEL
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target.resolve())
    command = [*EDGEPRUNE, "eval", "sim2real", "--weights", str(base_link), "--weights",
               str(pruned_link), "--sim", str(inputs["sim"]), "--real", str(inputs["real"]),
               "--corruptions", args.corruptions, "--severities", args.severities,
               "--seed", str(args.seed), "--out", str(out)]
    if args.max_images:
        command += ["--max-images", str(args.max_images)]
    seconds = run(command, args.work / "eval.log")
    steps.lines.append(f"{shown(command)}   # {seconds / 60:.1f} min")
    return json.loads((out / "results.json").read_text()), seconds


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def write_result(args, steps: Steps, results: dict, seconds: float, loads: tuple) -> str:
    models = results["models"]
    lines = [
        "# Sim-to-real gap and corruption robustness: base vs pruned",
        "",
        f"Recorded {dt.datetime.now().isoformat(timespec='seconds')} by "
        f"`{shlex.join(['.venv/bin/python', 'benchmarks/sim2real_gap.py', *sys.argv[1:]])}`.",
        "",
        f"- Machine: {machine_line()}",
        f"- `uptime` at the start: {loads[0]}",
        f"- `uptime` at the end: {loads[1]}",
        "",
        "## Commands", "", "```sh", *steps.lines, "```", "",
        f"`eval sim2real` took {seconds / 60:.1f} min for {len(models)} models x "
        f"{2 + len(results['corruptions']) * len([s for s in results['severities'] if s])} "
        f"conditions on {results['datasets']['sim']['images']} sim and "
        f"{results['datasets']['real']['images']} real images ({results['image_reading']}; "
        f"{results['computed']} evaluations run, {results['reused']} reused from an earlier "
        f"run in the same folder).",
        "", "## Domain gap", "",
        "| model | params | GFLOPs | sim mAP@0.5 | real mAP@0.5 | gap | real/sim | "
        "sim mAP@0.5:0.95 | real mAP@0.5:0.95 | real/sim | images/s (detector, all conditions) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        s50, s95 = m["summary"]["map50"], m["summary"]["map50_95"]
        scores = [m["sim"], m["real"], *(score for c in m["corruptions"].values()
                                          for score in c["severities"].values())]
        speed = sum(s["images"] for s in scores) / sum(s["detector_seconds"] for s in scores)
        lines.append(f"| {m['label']} | {m['params']:,} | {m['gflops']:.2f} | {_num(s50['sim'])} "
                     f"| {_num(s50['real'])} | {s50['gap']:+.4f} | {_pct(s50['real_retention'])}"
                     f" | {_num(s95['sim'])} | {_num(s95['real'])} | "
                     f"{_pct(s95['real_retention'])} | {speed:.1f} |")
    lines += ["", "## Corruption suite (sim split, mAP@0.5)", "",
              "| corruption | " + " | ".join(f"{m['label']} mean | {m['label']} kept"
                                             for m in models) + " |",
              "|---|" + "---:|---:|" * len(models)]
    for name in results["corruptions"]:
        cells = [f"{_num(m['corruptions'][name]['mean_map50'])} | "
                 f"{_pct(m['corruptions'][name]['retention_map50'])}" for m in models]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = [f"{_num(m['summary']['map50']['suite_mean'])} | "
             f"{_pct(m['summary']['map50']['suite_retention'])}" for m in models]
    lines += ["| **suite (mPC, rPC)** | " + " | ".join(cells) + " |", ""]
    base, pruned = models[0], models[1]
    lines += ["## Reading", "",
              f"- real/sim mAP@0.5: {base['label']} "
              f"{_pct(base['summary']['map50']['real_retention'])}, {pruned['label']} "
              f"{_pct(pruned['summary']['map50']['real_retention'])}.",
              f"- corruption suite rPC (mAP@0.5): {base['label']} "
              f"{_pct(base['summary']['map50']['suite_retention'])}, {pruned['label']} "
              f"{_pct(pruned['summary']['map50']['suite_retention'])}.",
              f"- Full report with per-severity tables and plots: "
              f"`{args.work / f'eval-{args.pruned_label}' / 'report.md'}`.", ""]
    if args.note:
        lines += [f"Note: {args.note}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgeprune-bench-sim2real"))
    parser.add_argument("--images", type=int, default=2000,
                        help="Generated images per domain (the last 20%% are val).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10, help="Base training epochs.")
    parser.add_argument("--base", type=Path, help="Base checkpoint (default: train one).")
    parser.add_argument("--pruned", type=Path, help="Pruned checkpoint (default: uniform "
                        "pruning of the base, fine-tuned).")
    parser.add_argument("--pruned-label", default="uniform-0.5-ft",
                        help="Name of the pruned model in the tables.")
    parser.add_argument("--uniform", type=float, default=0.5)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--corruptions", default="all")
    parser.add_argument("--severities", default="1-5")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--note", default="", help="A line added to the result file.")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "sim2real_gap.md")
    args = parser.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    started = uptime()
    steps = Steps(args.work)
    inputs = prepare(args, steps)
    results, seconds = evaluate(args, inputs, steps)
    text = write_result(args, steps, results, seconds, (started, uptime()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
