"""Detector overhead over a bare ONNX Runtime `session.run`, side by side on one session.

    .venv/bin/python benchmarks/detector_overhead.py [--width 0.25 --imgsz 320 416
        --camera 640x480 1280x1024 --runs 60 --out benchmarks/results/detector_overhead.md]

The bare call is `session.run` on an input tensor letterboxed beforehand: what a hand-written
loop would time. The Detector call is the whole robot path on a BGR camera frame: letterbox,
BGR -> RGB, [0, 1], the same `session.run` (the very same session object, so thread count and
graph options cannot differ), decoding, class-aware NMS, boxes back in frame pixels. The two
are timed alternately, frame by frame, so machine load hits both alike; medians are compared.
The model is yolov3 with untrained weights made to behave like a trained one (BN statistics from
the frames, objectness biased low), so a few dozen candidate rows per frame reach NMS; the
detections per frame are reported.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from machine_info import machine_line, uptime

from edgeprune.data.letterbox import prepare_batch
from edgeprune.models import create, load_checkpoint
from edgeprune.models.darknet import YoloDecode
from edgeprune.onnxio.serialize import onnx_bytes
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.runtime.detector import Detector

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ucsd-sample"


def trained_like(width: float, frames: list[np.ndarray], seed: int = 0):
    """yolov3 whose heads give a few dozen confident rows per frame, as a trained detector's
    do: BN statistics estimated on the frames, random head weights, objectness biased low."""
    model = create("yolov3", num_classes=5, width=width).eval()
    torch.manual_seed(seed)
    recalibrate_bn(model, [torch.from_numpy(prepare_batch(frames, (416, 416))[0])], 1)
    heads = [i - 1 for i, m in enumerate(model.layers) if isinstance(m, YoloDecode)]
    with torch.no_grad():
        for index in heads:
            conv = model.layers[index].conv
            per_anchor = model.layers[index + 1].num_outputs
            conv.weight.copy_(torch.randn(conv.weight.shape) / conv.weight[0].numel() ** 0.5)
            conv.bias.zero_()
            conv.bias[torch.arange(conv.out_channels) % per_anchor == 4] = -3.0
    return model


def camera_frames(size: tuple[int, int], count: int = 6,
                  folder: Path | None = None) -> list[np.ndarray]:
    """Frames from `folder` (default: the real UCSD sample when it is here) resized to the
    camera size, else noise."""
    folder = folder or SAMPLE / "JPEGImages"
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".png"))[:count]
    if paths:
        return [cv2.resize(cv2.imread(str(p)), size, interpolation=cv2.INTER_LINEAR)
                for p in paths]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) for _ in range(count)]


def measure(detector: Detector, frames: list[np.ndarray], runs: int) -> dict:
    session = detector.runtime.session
    name = session.get_inputs()[0].name
    prepared = [detector.preprocess(frame)[0] for frame in frames]
    for index in range(5):  # warm-up of both paths
        session.run(None, {name: prepared[index % len(frames)]})
        detector(frames[index % len(frames)])
    bare, full, stages, found = [], [], [], []
    for index in range(runs):
        frame, tensor = frames[index % len(frames)], prepared[index % len(frames)]
        started = time.perf_counter()
        session.run(None, {name: tensor})
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        detections = detector(frame)[0]
        full.append(time.perf_counter() - started)
        stages.append(detector.last_times)
        found.append(len(detections))
    median = statistics.median
    return {"bare_ms": median(bare) * 1000, "detector_ms": median(full) * 1000,
            "pre_ms": median(s.preprocess for s in stages) * 1000,
            "infer_ms": median(s.inference for s in stages) * 1000,
            "post_ms": median(s.postprocess for s in stages) * 1000,
            "detections": float(np.mean(found))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--imgsz", type=int, nargs="+", default=[320, 416])
    parser.add_argument("--camera", nargs="+", default=["640x480", "1280x1024"])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--weights", type=Path, help="A trained checkpoint to time instead of "
                        "the trained-like yolov3 (e.g. the training benchmark's best.pt).")
    parser.add_argument("--frames", type=Path, help="Folder of images to use as camera frames "
                        "(default: the UCSD sample), e.g. the val images the model was made for.")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    load_before = uptime()
    if args.weights:
        model = load_checkpoint(args.weights).model.eval()
        described = f"the trained checkpoint `{args.weights}`"
    else:
        model = trained_like(args.width, camera_frames((640, 480), folder=args.frames))
        described = (f"yolov3 width {args.width}, 5 classes, untrained but with a trained "
                     f"model's output statistics (BN from the frames, objectness biased low)")
    rows = []
    for imgsz in args.imgsz:
        detector = Detector(onnx_bytes(model, (imgsz, imgsz), None), conf_threshold=0.25,
                            iou_threshold=0.45)
        for camera in args.camera:
            size = tuple(int(v) for v in camera.split("x"))
            result = measure(detector, camera_frames(size, folder=args.frames), args.runs)
            rows.append((imgsz, camera, result))
            print(f"{imgsz} {camera}: {result}", file=sys.stderr)
    lines = [
        "# Detector overhead over a bare ONNX Runtime session.run", "",
        f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`  ",
        f"Machine: {machine_line()}  ",
        f"Load before: `{load_before}`  ",
        f"Load after: `{uptime()}`  ",
        f"Model: {described}; frames: {args.frames or 'the UCSD sample'}; ONNX Runtime CPU "
        f"provider, default session options (the Detector's), one session shared by both "
        f"paths; conf 0.25, IoU 0.45; {args.runs} alternating runs, "
        f"medians", "",
        "| input | camera frame | bare session.run (ms) | Detector (ms) | overhead | "
        "letterbox+convert (ms) | inference (ms) | decode+NMS+map back (ms) | (pre + post) / "
        "bare | detections per frame |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for imgsz, camera, r in rows:
        overhead = r["detector_ms"] / r["bare_ms"] - 1
        lines.append(f"| {imgsz}x{imgsz} | {camera} | {r['bare_ms']:.2f} | "
                     f"{r['detector_ms']:.2f} | {overhead:+.1%} | {r['pre_ms']:.2f} | "
                     f"{r['infer_ms']:.2f} | {r['post_ms']:.2f} | "
                     f"{(r['pre_ms'] + r['post_ms']) / r['bare_ms']:.1%} | "
                     f"{r['detections']:.1f} |")
    lines += ["", "overhead = Detector / bare - 1, from the medians of the two totals; on a "
              "loaded machine the inference time itself moves by several percent between "
              "runs, so (pre + post) / bare, the medians of the Detector's own stages outside "
              "inference, is the steadier measure of what it adds."]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
