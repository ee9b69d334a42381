"""Latency predictor (NetAdapt-style lookup table) accuracy against whole-model measurements.

    .venv/bin/python benchmarks/latency_lut.py [--model yolov3 --width 0.5 --imgsz 320
        --threads 1 --variants 6 --out benchmarks/results/latency_lut.md]

Builds the table on the local CPU (ort-cpu), fits the whole-model line on uniform width
variants, and reports the error on random width variants (channel counts multiples of 8).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from machine_info import machine_line, uptime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov3")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", type=int, default=6)
    parser.add_argument("--round-to", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results/latency_lut.md")
    args = parser.parse_args()

    from edgeprune.latency import resolve_device
    from edgeprune.latency.lut import build_predictor
    from edgeprune.models import builtin_cfg

    load_before = uptime()
    cfg = builtin_cfg(args.model, num_classes=args.classes, width=args.width, imgsz=args.imgsz)
    cache = Path(tempfile.mkdtemp(prefix="edgeprune-bench-")) / "lut.sqlite"
    meter = resolve_device("cpu", threads=args.threads, cache=cache)
    started = time.perf_counter()
    report = build_predictor(cfg, meter, (args.imgsz, args.imgsz), variants=args.variants,
                             round_to=args.round_to)
    seconds = time.perf_counter() - started
    load_after = uptime()
    entries = sum(len(v) for v in report.predictor.entries.values())
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    lines = [
        "# Latency predictor benchmark", "",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}  ",
        f"Load before: `{load_before}`  ",
        f"Load after: `{load_after}`  ",
        f"Model: {args.model} width {args.width}, {args.classes} classes, "
        f"{args.imgsz}x{args.imgsz}; ort-cpu, {args.threads} thread(s); channels rounded to "
        f"multiples of {args.round_to}", "",
        f"Table: {entries} layer entries in {len(report.predictor.entries)} geometries; "
        f"runtime cost per run {report.predictor.meta['per_run_ms']:.3f} ms; fitted line "
        f"ms = {report.predictor.slope:.3f} x layer sum + {report.predictor.intercept:.3f}; "
        f"whole build (table, fit and checks) {seconds:.0f} s", "",
        "| model | measured ms | predicted ms | error |", "|---|---|---|---|",
    ]
    for kind, rows in (("fit", report.calibration), ("check", report.validation)):
        lines += [f"| {kind}: {r['name']} | {r['measured_ms']:.3f} | {r['predicted_ms']:.3f} | "
                  f"{r['error']:+.1%} |" for r in rows]
    lines += ["", f"Error on the {len(report.validation)} checks: mean "
              f"{report.mean_abs_error:.1%}, max {report.max_abs_error:.1%}", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
