"""ONNX Runtime CPU speedup of pruned yolov3 variants over the base, beside their FLOPs ratios.

Every variant is exported to ONNX and given an ONNX Runtime session with the same options
(threads, graph optimizations). After warm-up, runs are interleaved round-robin (base,
variant 1, variant 2, ..., base, ...), so a load change on this shared machine hits all
variants alike; the table reports medians and the speedup of each variant's median over the
base's. Latency does not depend on the weights, so the variants are built from `pruned_cfg`
with fresh weights.

    .venv/bin/python benchmarks/prune_speedup.py --imgsz 416 --runs 30 \
        --out benchmarks/prune_speedup.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from machine_info import machine_line, uptime

from edgeprune.models import DarknetModel, builtin_cfg
from edgeprune.models.counting import count_gflops, count_params
from edgeprune.onnxio.serialize import INPUT_NAME, onnx_bytes
from edgeprune.prune import PruneSpec, prune_space, pruned_cfg


def variants(cfg) -> dict[str, PruneSpec]:
    """Uniform ratios, and dropping 3 blocks from one stage at a time: in Darknet-53 every
    block costs the same FLOPs whatever its stage, so those three variants have equal FLOPs and
    any latency difference between them is latency not following FLOPs."""
    stages: dict[int, list[int]] = {}  # stream width -> its blocks, in network order
    for block in prune_space(cfg).blocks:
        stages.setdefault(block.channels, []).append(block.index)
    deep = [blocks for blocks in stages.values() if len(blocks) >= 4]  # strides 8, 16, 32
    named = {
        "uniform 0.75": PruneSpec.uniform(0.75),
        "uniform 0.5": PruneSpec.uniform(0.5),
        "uniform 0.25": PruneSpec.uniform(0.25),
        "uniform 0.3 (round_to 8)": PruneSpec.uniform(0.3, round_to=8),
        "uniform 0.3 (round_to 1)": PruneSpec.uniform(0.3, round_to=1, min_channels=1),
    }
    for stride, blocks in zip((8, 16, 32), deep, strict=True):
        last = blocks[-3:]
        named[f"drop blocks {last[0]}-{last[-1]} (stride {stride})"] = PruneSpec.create(
            drop_blocks=last)
    every_other = [b for blocks in deep for b in blocks[1::2]]
    named[f"drop {len(every_other)} blocks (every other, strides 8-32)"] = PruneSpec.create(
        drop_blocks=every_other)
    return named


def session(model_bytes: bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="yolov3")
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per variant")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, help="write the Markdown result here")
    args = parser.parse_args()

    torch.manual_seed(0)
    base_cfg = builtin_cfg(args.model, num_classes=args.classes, width=args.width,
                           imgsz=args.imgsz)
    specs = {"base": PruneSpec(), **variants(base_cfg)}
    size = (args.imgsz, args.imgsz)
    load_before = uptime()
    entries = []
    for name, spec in specs.items():
        cfg = pruned_cfg(base_cfg, spec)
        data = onnx_bytes(DarknetModel(cfg).eval(), size)
        entries.append({"name": name, "spec": spec, "cfg": cfg,
                        "session": session(data, args.threads), "times": []})
        print(f"exported {name}", file=sys.stderr, flush=True)
    image = np.random.default_rng(0).random((1, 3, *size), dtype=np.float32)
    for entry in entries:
        for _ in range(args.warmup):
            entry["session"].run(None, {INPUT_NAME: image})
    for run in range(args.runs):
        for entry in entries:
            start = time.perf_counter()
            entry["session"].run(None, {INPUT_NAME: image})
            entry["times"].append(time.perf_counter() - start)
        print(f"round {run + 1}/{args.runs}", file=sys.stderr, flush=True)
    load_after = uptime()

    base = entries[0]
    base_ms = statistics.median(base["times"]) * 1e3
    base_gflops, base_params = count_gflops(base["cfg"], size), count_params(base["cfg"])
    rows = []
    for entry in entries:
        times = np.array(entry["times"]) * 1e3
        median = float(np.median(times))
        gflops = count_gflops(entry["cfg"], size)
        rows.append(f"| {entry['name']} | {count_params(entry['cfg']) / 1e6:.2f} | "
                    f"{gflops:.2f} | {median:.1f} | {np.percentile(times, 90):.1f} | "
                    f"{base_gflops / gflops:.2f}x | {base_ms / median:.2f}x | "
                    f"{base_params / count_params(entry['cfg']):.2f}x |")
    command = " ".join(["python", *sys.argv])
    text = "\n".join([
        "# Pruned yolov3: ONNX Runtime CPU speedup vs FLOPs reduction",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: {machine_line()}",
        f"- load before: `{load_before}`",
        f"- load after: `{load_after}`",
        f"- onnxruntime {ort.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}; CPUExecutionProvider, intra-op threads {args.threads}, "
        f"sequential, ORT_ENABLE_ALL",
        f"- model: {args.model} width {args.width}, {args.classes} classes, "
        f"{args.imgsz}x{args.imgsz}, batch 1; {args.warmup} warm-up runs each, then "
        f"{args.runs} timed runs each, interleaved round-robin",
        "- default rounding: round_to 8, min_channels 8 (unless stated)",
        "",
        "| variant | params (M) | GFLOPs | median ms | p90 ms | FLOPs reduction | "
        "speedup (median) | params reduction |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ])
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
