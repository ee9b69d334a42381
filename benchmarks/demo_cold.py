"""Benchmark: wall time of `edgeprune demo` from a cold cache (what `make demo` costs the first
time), step by step, with the results it reached.

Runs the user's command as a subprocess with an empty cache folder, then reads the run's
report.md (its time table and result table) and records them with the machine and its load.

    .venv/bin/python benchmarks/demo_cold.py          # writes benchmarks/results/demo_cold.md
    .venv/bin/python benchmarks/demo_cold.py --out /tmp/demo.md -- --images 200 --epochs 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine_info import machine_line, uptime  # noqa: E402

EDGEPRUNE = str(Path(sys.executable).parent / "edgeprune")
# issue 26's demo goals, decided before running: a cold run in at most 25 minutes whose base
# reaches 0.75 sim mAP@0.5 and passes regime checks (a) and (b), and whose fine-tuned network
# at >= 2x measured speedup keeps >= 95% of the base's sim mAP@0.5 and beats the scratch
# models at equal or lower latency (the report's verdicts)
TARGET_MINUTES = 25.0
BASE_MAP50 = 0.75
KEPT = 0.95
SPEEDUP = 2.0


def section(report: str, title: str) -> list[str]:
    """The lines of `## title` in a markdown report, up to the next section."""
    lines = report.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    kept = lines[start:end]
    # the blank lines inside stay (they end tables and paragraphs), those around it go
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def results_table(report: str) -> dict[str, dict[str, str]]:
    """The report's result table: model -> column -> cell."""
    rows = [line for line in section(report, "Results") if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    return {cells[0]: dict(zip(header, cells, strict=True))
            for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows[1:])}


def goals(report: str, minutes: float) -> list[str]:
    """Each demo goal, met or missed, with its number."""
    table = results_table(report)
    base, tuned = table["base"], table["fine-tuned"]
    base_map = float(base["sim mAP@0.5"])
    kept = float(tuned["sim mAP@0.5"]) / base_map if base_map else 0.0
    speedup = float(tuned["speedup"].rstrip("x"))
    checks = [line for line in section(report, "Regime checks") if line.startswith("| ")
              and not line.startswith("| check") and not line.startswith("|---")]
    passed = [line.split("|")[1].strip() for line in checks if "| pass |" in line]
    verdicts = [line for line in section(report, "Results")
                if line.startswith("**The searched network")]
    beats = [v for v in verdicts if v.startswith("**The searched network beats")]

    def mark(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    return [
        f"- cold run {minutes:.1f} min (<= {TARGET_MINUTES:g}): {mark(minutes <= TARGET_MINUTES)}",
        f"- base sim mAP@0.5 {base_map:.4f} (>= {BASE_MAP50:g}): {mark(base_map >= BASE_MAP50)}",
        f"- regime checks passed: {', '.join(passed) or 'none'} of {len(checks)} "
        f"(converged and latency follows compute): {mark(len(checks) == 2 == len(passed))}",
        f"- fine-tuned keeps {kept:.1%} of the base's sim mAP@0.5 at {speedup:.2f}x (>= "
        f"{KEPT:.0%} at >= {SPEEDUP:g}x): {mark(kept >= KEPT and speedup >= SPEEDUP)}",
        f"- beats the scratch models at equal or lower latency: {len(beats)} of "
        f"{len(verdicts)}: {mark(bool(verdicts) and len(beats) == len(verdicts))}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "demo_cold.md")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="run in DIR (must be empty or absent) and keep its cache and run "
                             "folder, e.g. to reuse the trained base afterwards")
    parser.add_argument("demo_args", nargs="*", help="extra `edgeprune demo` options (after --)")
    args = parser.parse_args()

    if args.keep is not None:
        if args.keep.exists() and any(args.keep.iterdir()):
            sys.exit(f"--keep {args.keep}: not empty (the run must start from a cold cache)")
        args.keep.mkdir(parents=True, exist_ok=True)
        work = args.keep.resolve()
    else:
        work = Path(tempfile.mkdtemp(prefix="edgeprune-demo-bench-"))
    command = [EDGEPRUNE, "demo", "--out", str(work / "runs"), "--cache", str(work / "cache"),
               *args.demo_args]
    load_before = uptime()
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    minutes = (time.perf_counter() - began) / 60
    load_after = uptime()
    (work / "demo.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"the demo failed ({done.returncode}); log: {work / 'demo.log'}\n"
                 f"{done.stderr[-3000:]}")
    report = (work / "runs" / "demo" / "exp" / "report.md").read_text().replace(str(work),
                                                                                 "$WORK")
    shown = "edgeprune " + shlex.join(command[1:]).replace(str(work), "$WORK")
    lines = [
        "# Demo benchmark: `edgeprune demo` from a cold cache",
        "",
        f"Recorded {dt.datetime.now().isoformat(timespec='seconds')} by "
        f"`{shlex.join(['.venv/bin/python', 'benchmarks/demo_cold.py', *sys.argv[1:]])}`.",
        "",
        f"- machine: {machine_line()}",
        f"- load before: `{load_before}`",
        f"- load after: `{load_after}`",
        "",
        "```sh",
        shown,
        "```",
        "",
        f"{minutes:.1f} min wall time for the whole command (Python start-up included).",
        "",
        "## Goals (decided before running)",
        "",
        *goals(report, minutes),
        "",
        "## Regime checks (from the run's report.md)",
        "",
        *section(report, "Regime checks"),
        "",
        "## Time per step (from the run's report.md)",
        "",
        *section(report, "Time"),
        "",
        "## Results (from the run's report.md)",
        "",
        *section(report, "Results"),
        "",
        "## Steps",
        "",
        *section(report, "Steps"),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
