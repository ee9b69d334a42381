"""Benchmark: what the device server's process boundary costs. Each model is measured in a
child process (edgeprune/latency/measuring_process.py); this times the same measurement in this
process (the backend called directly, as the server did before issue 29) and through the
child, alternating, and the child's own events: its start, a stop between runs, a kill inside
a long run and the restart after it.

Decided before running: ort-cpu, 1 thread; yolov3-tiny width 0.25 at 64 px (the tests' model,
a few ms per run: the boundary's share is largest on a fast model) with a fixed count of runs
(warm-up 10, 50 timed, no re-measure: both sides do the same work) and with the default
protocol; `--rounds` alternations. Reported: wall ms per measurement on each side, the
difference (the boundary's cost) as median and as a share of the measurement, and the medians
each side timed (the child must time the model as this process does).

    python benchmarks/measure_child_cost.py          # -> results/measure_child_cost.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from machine_info import commit, machine_line, uptime  # noqa: E402

SHAPE = (1, 3, 64, 64)
PROTOCOLS = {"fixed 10 + 50 runs": {"warmup_runs": 10, "warmup_seconds": 0, "min_runs": 50,
                                     "max_runs": 50, "max_remeasures": 0, "drift_every": 0},
             "default protocol": {}}


async def measure_sides(path: Path, rounds: dict[str, int]) -> dict[str, dict[str, list]]:
    """Both sides alternating, in one event loop as in the server (the in-process side blocks
    it while it measures, as a benchmark may)."""
    from edgeprune.latency import Protocol, create_backend
    from edgeprune.latency.measuring_process import MeasuringProcess

    backend = create_backend("ort-cpu", threads=1)
    child = MeasuringProcess("ort-cpu", {"threads": 1})
    child.start()
    rows: dict[str, dict[str, list]] = {
        name: {"here_ms": [], "child_ms": [], "here_median": [], "child_median": [],
               "here_runs": [], "child_runs": []} for name in PROTOCOLS}
    rows["round trip"] = {"ms": []}
    try:
        for _ in range(50):  # the pipe alone: a message to the idle child and its answer
            began = time.perf_counter()
            await child.refresh_info()
            rows["round trip"]["ms"].append((time.perf_counter() - began) * 1000)
        for name, fields in PROTOCOLS.items():
            protocol = Protocol().with_overrides(fields)
            job = {"model": str(path), "reference": None, "shape": list(SHAPE),
                   "precision": "fp32", "protocol": protocol.to_json()}
            for index in range(rounds[name]):
                timed = {}
                for side in ("here", "child") if index % 2 else ("child", "here"):
                    began = time.perf_counter()
                    if side == "here":
                        timed[side] = backend.measure(path, SHAPE, "fp32", protocol).to_json()
                    else:
                        timed[side] = (await child.run(job, 600))["result"]
                    rows[name][f"{side}_ms"].append((time.perf_counter() - began) * 1000)
                for side, result in timed.items():
                    rows[name][f"{side}_median"].append(result["median_ms"])
                    rows[name][f"{side}_runs"].append(result["runs"] * (result["remeasures"] + 1))
    finally:
        child.close()
    return rows


def child_events(path: Path, heavy: Path, rounds: int) -> dict[str, list[float]]:
    """ms of: a cold start; a stop asked between runs (cooperative, no restart); a kill
    inside a long run; the next measurement's restart."""
    from edgeprune.latency import Protocol
    from edgeprune.latency.measuring_process import JobEnded, MeasuringProcess

    events: dict[str, list[float]] = {"start": [], "stop between runs": [],
                                      "kill inside a run": [], "restart": []}
    long_job = {"model": str(path), "reference": None, "shape": list(SHAPE),
                "precision": "fp32", "protocol": Protocol().with_overrides(
                    {"min_runs": 10000, "max_runs": 10000, "max_seconds": 60,
                     "max_remeasures": 0}).to_json()}
    heavy_job = {**long_job, "model": str(heavy), "shape": [1, 1]}
    short_job = {**long_job, "protocol": Protocol().with_overrides(
        PROTOCOLS["fixed 10 + 50 runs"]).to_json()}

    async def stopped_after(job: dict, seconds: float) -> float:
        with anyio.move_on_after(seconds):
            await child.run(job, 600)
        return time.perf_counter()

    for _ in range(rounds):
        child = MeasuringProcess("ort-cpu", {"threads": 1})
        began = time.perf_counter()
        child.start()
        events["start"].append((time.perf_counter() - began) * 1000)
        try:
            pid = child.pid
            began = time.perf_counter() + 1.0
            events["stop between runs"].append((anyio.run(stopped_after, long_job, 1.0)
                                                - began) * 1000)
            assert child.pid == pid, "the child was killed instead of stopping"
            began = time.perf_counter() + 1.0
            try:
                anyio.run(child.run, heavy_job, 1.0)
            except JobEnded:
                events["kill inside a run"].append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            anyio.run(child.run, short_job, 600)
            events["restart"].append((time.perf_counter() - began) * 1000)
        finally:
            child.close()
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20,
                        help="alternations with the fixed protocol (the cost's estimate)")
    parser.add_argument("--default-rounds", type=int, default=5,
                        help="alternations with the default protocol (what it is a share of)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "measure_child_cost.md"))
    args = parser.parse_args()

    from edgeprune.models import create
    from edgeprune.onnxio.serialize import onnx_bytes
    from tests.latency.abuse_helpers import heavy_model

    load_before = uptime()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(onnx_bytes(create("yolov3-tiny", num_classes=3, width=0.25,
                                           imgsz=64), (64, 64)))
        heavy = Path(folder) / "heavy.onnx"
        heavy.write_bytes(heavy_model())
        rows = anyio.run(measure_sides, path, {"fixed 10 + 50 runs": args.rounds,
                                               "default protocol": args.default_rounds})
        events = child_events(path, heavy, args.default_rounds)
    write_report(args, rows, events, load_before, uptime())


def write_report(args, rows, events, load_before: str, load_after: str) -> None:
    median = statistics.median
    command = " ".join(["python benchmarks/measure_child_cost.py", *sys.argv[1:]])
    lines = [
        "# The device server's process boundary: cost per measurement", "",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}  ",
        f"Commit: {commit()}; {dt.datetime.now().isoformat(timespec='seconds')}  ",
        f"Load: before `{load_before}`, after `{load_after}`", "",
        "ort-cpu, 1 thread, yolov3-tiny width 0.25 at 64 px, the two sides alternating "
        "(which goes first alternates too). "
        "`here`: the backend called in this process (the server before issue 29); `child`: "
        "MeasuringProcess.run (JSON over a socket pair to the measuring child, the same "
        "backend there). The fixed protocol does the same work on both sides, so its "
        "difference is the boundary's cost; the default protocol stops when the median is "
        "known to +-2%, so its wall time follows the machine's noise, and the cost is "
        "given as a share of it.", "",
        "| protocol | rounds | here, ms per measurement | child, ms | child - here, ms "
        "(median of the differences) | runs timed here / child | median timed here / "
        "child, ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in PROTOCOLS:
        row = rows[name]
        differences = [c - h for c, h in zip(row["child_ms"], row["here_ms"], strict=True)]
        lines.append(f"| {name} | {len(differences)} | {median(row['here_ms']):.1f} | "
                     f"{median(row['child_ms']):.1f} | {median(differences):+.1f} | "
                     f"{median(row['here_runs']):.0f} / {median(row['child_runs']):.0f} | "
                     f"{median(row['here_median']):.3f} / {median(row['child_median']):.3f} |")
    fixed, default = rows["fixed 10 + 50 runs"], rows["default protocol"]
    cost = median([c - h for c, h in zip(fixed["child_ms"], fixed["here_ms"], strict=True)])
    lines += ["", f"The boundary costs {cost:+.1f} ms per measurement: "
              f"{cost / median(fixed['here_ms']):+.1%} of the 60-run measurement, "
              f"{cost / median(default['here_ms']):+.2%} of a default-protocol one "
              f"({median(default['here_ms']) / 1000:.1f} s here); of it, a message to the "
              f"child and its answer take {median(rows['round trip']['ms']):.2f} ms (median "
              f"of 50), the rest is noise and each process's own caches."]
    lines += ["", "The child's events (median of the rounds, ms):", "",
              "| event | ms | what it is |", "|---|---:|---|"]
    meaning = {"start": "a cold start: interpreter, onnxruntime, the backend, the memory cap",
               "stop between runs": "a cancelled job, from the cancel to the child's answer "
                                    "(it stops at its next run and stays up)",
               "kill inside a run": "a job past its deadline inside one long run: the 0.5 s "
                                    "grace, then SIGKILL and reaping",
               "restart": "the next measurement after a kill (fixed 50 runs): a new child's "
                          "start plus the measurement"}
    for name, values in events.items():
        lines.append(f"| {name} | {median(values):.0f} | {meaning[name]} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
