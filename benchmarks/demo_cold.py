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
TARGET_MINUTES = 20.0


def section(report: str, title: str) -> list[str]:
    """The lines of `## title` in a markdown report, up to the next section."""
    lines = report.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line.strip()]


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
    verdict = "met" if minutes < TARGET_MINUTES else "MISSED"
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
        f"Target (a cold run under {TARGET_MINUTES:.0f} minutes): **{verdict}**, "
        f"{minutes:.1f} min wall time for the whole command (Python start-up included).",
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
