"""Latency measurement benchmark: spread of repeated measurements, cost per candidate (cold and
cached), and the device agent's overhead over measuring locally, side by side in one run.

    .venv/bin/python benchmarks/latency_measurement.py [--model yolov3 --width 0.25
        --imgsz 416 --threads 1 --repeats 10 --out benchmarks/results/latency_measurement.md]

The agent runs in its own process on 127.0.0.1; local and remote measurements alternate so
both see the same machine load. Load averages are recorded before and after: on a shared
machine, compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_info import machine_line, uptime


def cv(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / values.mean())


def start_agent(token: str, threads: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-c", "from edgeprune.cli import main; main()", "device",
               "serve", "--port", "0", "--ort-threads", str(threads), "--max-upload-mb", "1024"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env={**os.environ, "EDGEPRUNE_SERVER_TOKEN": token})
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"agent did not start: {line!r}")
    return process, match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov3")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--hits", type=int, default=200)
    parser.add_argument("--agent-repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/latency_measurement.md")
    args = parser.parse_args()

    from edgeprune.latency import LatencyCache, LatencyMeter, Protocol, create_backend
    from edgeprune.models import create
    from edgeprune.models.counting import count_gflops
    from edgeprune.onnxio.serialize import onnx_bytes

    load_before = uptime()
    model = create(args.model, num_classes=args.classes, width=args.width, imgsz=args.imgsz)
    shape = (1, 3, args.imgsz, args.imgsz)
    protocol = Protocol().with_overrides({"drift_every": 0})
    folder = Path(tempfile.mkdtemp(prefix="edgeprune-bench-"))
    backend = create_backend("ort-cpu", threads=args.threads)

    # 1. Cold cost per candidate: export + hash + measure + store, in a fresh cache.
    meter = LatencyMeter(backend, cache=LatencyCache(folder / "cold.sqlite"), protocol=protocol)
    started = time.perf_counter()
    cold = meter.measure(model, shape)
    cold_s = time.perf_counter() - started
    # The first export in a process also loads torch's exporter; a search pays that once.
    other = create(args.model, num_classes=args.classes + 1, width=args.width,
                   imgsz=args.imgsz)
    started = time.perf_counter()
    next_cold = meter.measure(other, shape)
    next_cold_s = time.perf_counter() - started

    # 2. Cached cost: the same architecture again (another instance, other weights).
    twin = create(args.model, num_classes=args.classes, width=args.width, imgsz=args.imgsz)
    hit_times = []
    for _ in range(args.hits):
        started = time.perf_counter()
        hit = meter.measure(twin, shape)
        hit_times.append((time.perf_counter() - started) * 1000)
        assert hit.from_cache

    # 3. Spread: the same model measured afresh `repeats` times in a row.
    model_bytes = onnx_bytes(model, (args.imgsz, args.imgsz))
    medians, walls, runs = [], [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        result = backend.measure(model_bytes, shape, "fp32", protocol)
        walls.append(time.perf_counter() - started)
        medians.append(result.median_ms)
        runs.append(result.runs)

    # 4. Agent overhead: local and remote measurements of the same bytes, alternating.
    token = secrets.token_hex(8)
    agent, url = start_agent(token, args.threads)
    try:
        remote = create_backend("remote", url=url, token=token)
        local_ms, remote_ms, local_extra, remote_extra = [], [], [], []
        for _ in range(args.agent_repeats):
            for target, ms, extra in ((backend, local_ms, local_extra),
                                      (remote, remote_ms, remote_extra)):
                started = time.perf_counter()
                result = target.measure(model_bytes, shape, "fp32", protocol)
                # Time outside the device's own measurement: upload, HTTP, JSON.
                extra.append((time.perf_counter() - started - result.total_s) * 1000)
                ms.append(result.median_ms)
    finally:
        os.kill(agent.pid, signal.SIGTERM)
        agent.wait(timeout=30)
    load_after = uptime()

    median_local = statistics.median(local_ms)
    median_remote = statistics.median(remote_ms)
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    lines = [
        "# Latency measurement benchmark", "",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}  ",
        f"Load before: `{load_before}`  ",
        f"Load after: `{load_after}`  ",
        f"Model: {args.model} width {args.width}, {args.classes} classes, "
        f"{args.imgsz}x{args.imgsz} ({count_gflops(model.cfg, (args.imgsz, args.imgsz)):.2f} "
        f"GFLOPs), ort-cpu with {args.threads} intra-op thread(s), default protocol "
        f"(drift checks off)", "",
        "## Spread: the same model measured afresh, in a row", "",
        "| repeats | median of medians (ms) | min..max (ms) | CV of medians | runs per "
        "measurement | wall s per measurement |", "|---|---|---|---|---|---|",
        f"| {args.repeats} | {statistics.median(medians):.3f} | {min(medians):.3f}.."
        f"{max(medians):.3f} | {cv(medians):.2%} | {min(runs)}..{max(runs)} | "
        f"{statistics.median(walls):.2f} |", "",
        "Medians: " + ", ".join(f"{m:.3f}" for m in medians), "",
        "## Cost of one measurement per candidate", "",
        "| path | time |", "|---|---|",
        f"| cold, first in the process (ONNX export + hash + measure + store) | {cold_s:.2f} s "
        f"(of which measuring {cold.total_s:.2f} s) |",
        f"| cold, next candidate | {next_cold_s:.2f} s (of which measuring "
        f"{next_cold.total_s:.2f} s) |",
        f"| cached (hash + SQLite lookup), median of {args.hits} | "
        f"{statistics.median(hit_times):.2f} ms |",
        f"| cached, max of {args.hits} | {max(hit_times):.2f} ms |", "",
        "## Device agent on 127.0.0.1 vs local, alternating", "",
        "| | local | agent | agent / local |", "|---|---|---|---|",
        f"| median latency (ms), median of {args.agent_repeats} | {median_local:.3f} | "
        f"{median_remote:.3f} | {median_remote / median_local:.3f} |",
        f"| time outside the measurement itself (ms): upload, HTTP, JSON | "
        f"{statistics.median(local_extra):.1f} | {statistics.median(remote_extra):.1f} | |",
        "", f"Model upload: {len(model_bytes) / 2**20:.1f} MiB over loopback. Wall time per "
        f"measurement is set by the protocol (runs until the median is known), the same on "
        f"both sides.", "",
        "Local medians: " + ", ".join(f"{m:.3f}" for m in local_ms) + "  ",
        "Agent medians: " + ", ".join(f"{m:.3f}" for m in remote_ms), "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
