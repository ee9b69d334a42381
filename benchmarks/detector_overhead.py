"""Benchmark: what the Detector adds to a bare ONNX Runtime session run.

The same ONNX model (yolov3 width 0.25 at 320 px, 5 classes, export/onnx.py) is timed two
ways, interleaved run by run so machine load hits both alike: `session.run` on a ready input
tensor, and `Detector(...)` on a 640x480 BGR camera frame (letterbox, colour conversion,
inference, decoding, NMS, mapping back). Reports medians, the ratio, and the Detector's own
stage times. Pass trained weights (the training benchmark's best.pt) so NMS sees realistic
numbers of candidates; without, a fresh untrained model is timed.

    .venv/bin/python benchmarks/detector_overhead.py --weights runs/train/exp/best.pt
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="A checkpoint to time (default: a fresh "
                        "yolov3 width 0.25, 320 px, 5 classes).")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "detector_overhead.md")
    args = parser.parse_args()

    import cv2
    import onnxruntime as ort

    from edgeprune.export.onnx import export_onnx
    from edgeprune.models import Checkpoint, create, load_checkpoint
    from edgeprune.runtime.detector import Detector

    if args.weights:
        ckpt = load_checkpoint(args.weights)
        source = str(args.weights)
    else:
        names = ["red_armor", "red_robot", "blue_robot", "dead_robot", "blue_armor"]
        ckpt = Checkpoint(create("yolov3", num_classes=5, width=0.25, imgsz=320), names,
                          (320, 320))
        source = "fresh yolov3 width 0.25 (untrained weights)"
    onnx_path = Path(tempfile.mkdtemp()) / "model.onnx"
    export_onnx(ckpt.model, onnx_path, ckpt.imgsz, ckpt.names)

    frame = _camera_frame()
    detector = Detector(onnx_path, threads=args.threads)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if args.threads:
        options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    ready, _ = detector.preprocess(frame)

    for _ in range(10):  # warm-up
        session.run(None, {"images": ready})
        detector(frame)
    bare, full, stages = [], [], []
    load_start = os.getloadavg()
    for _ in range(args.runs):
        began = time.perf_counter()
        session.run(None, {"images": ready})
        bare.append(time.perf_counter() - began)
        began = time.perf_counter()
        found = detector(frame)
        full.append(time.perf_counter() - began)
        stages.append(detector.last_times)
    load_end = os.getloadavg()
    bare_ms, full_ms = statistics.median(bare) * 1e3, statistics.median(full) * 1e3
    pre = statistics.median(s.preprocess for s in stages) * 1e3
    inf = statistics.median(s.inference for s in stages) * 1e3
    post = statistics.median(s.postprocess for s in stages) * 1e3
    lines = [
        "# Detector overhead over a bare ONNX Runtime session",
        "",
        f"Recorded {dt.datetime.now().isoformat(timespec='seconds')} by "
        f"`{shlex.join(['.venv/bin/python', 'benchmarks/detector_overhead.py', *sys.argv[1:]])}`"
        ".",
        "",
        f"- machine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}, OpenCV {cv2.__version__}",
        f"- load average at start {_fmt(load_start)}, at end {_fmt(load_end)} (shared machine)",
        f"- model: {source}; ONNX at {ckpt.imgsz[1]}x{ckpt.imgsz[0]}, CPU provider, "
        f"{args.threads or 'default'} threads; input frame 640x480 BGR; "
        f"{len(found[0])} detections at conf 0.25",
        f"- {args.runs} runs each, interleaved; medians",
        "",
        "| | median ms |",
        "|---|---|",
        f"| bare `session.run` (input ready) | {bare_ms:.2f} |",
        f"| `Detector(frame)` end to end | {full_ms:.2f} |",
        f"| of which preprocess (letterbox, BGR->RGB, /255) | {pre:.2f} |",
        f"| of which inference | {inf:.2f} |",
        f"| of which postprocess (threshold, NMS, map back) | {post:.2f} |",
        f"| overhead, Detector / bare | {full_ms / bare_ms:.3f}x "
        f"(+{full_ms - bare_ms:.2f} ms) |",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


def _camera_frame() -> np.ndarray:
    """A 640x480 frame from `edgeprune data synth` (sim domain, seed 0, image 0)."""
    import subprocess

    folder = Path(tempfile.mkdtemp())
    subprocess.run([str(Path(sys.executable).parent / "edgeprune"), "data", "synth", "--out",
                    str(folder), "--images", "1", "--val-fraction", "0", "--seed", "0"],
                   check=True, capture_output=True)
    import cv2

    return cv2.imread(str(next((folder / "images").rglob("*.png"))))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _fmt(values) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
