"""Throughput and latency of the ROS 2 detector node on this CPU, next to the bare Detector.

    .venv/bin/python benchmarks/ros_node_throughput.py [--width 0.25 --imgsz 320 416
        --camera 640x480 --rate 30 --seconds 20 --out benchmarks/results/ros_node_throughput.md]

For each input size the node runs in .venv-ros (`make ros-venv`) on an ONNX export of yolov3,
with keep-last-1 QoS as on a robot (frames the node cannot keep up with are replaced by newer
ones, never queued) and reliable delivery (see ros_node_probe.py). ros_node_probe.py measures
publish-to-detections latency one frame at a time, then publishes at --rate like a camera:
detections per second, and the p50/p99 of publish -> detections per answered frame, both as
the node reports it on its latency topic and as the probe sees it (publish -> received). The
same model and frames then go through the Detector alone in this process (node stopped), so
the node's cost over the Detector (message conversion, DDS transport over loopback) shows as
the difference. The model is the one of detector_overhead.py (trained-like output statistics).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
from detector_overhead import SAMPLE, trained_like
from machine_info import machine_line, uptime

from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.detector import Detector

REPO = Path(__file__).resolve().parents[1]
ROS_PYTHON = REPO / ".venv-ros" / "bin" / "python"
PROBE = Path(__file__).with_name("ros_node_probe.py")


def run_node(model: Path, images: list[Path], args, env: dict) -> dict:
    node = subprocess.Popen(
        [str(ROS_PYTHON), "-m", "edgeprune_ros.detector_node", "--ros-args",
         "-p", f"model_path:={model}", "-p", "input_topic:=/bench/image",
         "-p", "output_topic:=/bench/detections", "-p", "fallback_topic:=/bench/detections_json",
         "-p", "latency_topic:=/bench/latency", "-p", "log_period_s:=0",
         "-p", "qos_reliability:=reliable"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        probe = subprocess.run(
            [str(ROS_PYTHON), str(PROBE), "--images", *map(str, images), "--camera",
             args.camera, "--rate", str(args.rate), "--seconds", str(args.seconds)],
            env=env, capture_output=True, text=True, timeout=300)
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    if probe.returncode != 0:
        raise SystemExit(f"probe failed: {probe.stderr}\n{node.stdout.read()}")
    return json.loads(probe.stdout.strip().splitlines()[-1])


def detector_alone(model: Path, images: list[Path], camera: str, runs: int = 40) -> float:
    size = tuple(int(v) for v in camera.split("x"))
    frames = [cv2.resize(cv2.imread(str(p)), size) for p in images]
    detector = Detector(model)
    for frame in frames:
        detector(frame)
    times = []
    for index in range(runs):
        started = time.perf_counter()
        detector(frames[index % len(frames)])
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--imgsz", type=int, nargs="+", default=[320, 416])
    parser.add_argument("--camera", default="640x480")
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not ROS_PYTHON.exists():
        raise SystemExit(".venv-ros is missing: run `make ros-venv` first")
    images = sorted((SAMPLE / "JPEGImages").glob("*.jpg"))
    if not images:
        raise SystemExit(f"no sample images in {SAMPLE}")
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_DOMAIN_ID=str(random.randint(100, 200)), PYTHONUNBUFFERED="1")
    load_before = uptime()
    size = tuple(int(v) for v in args.camera.split("x"))
    model = trained_like(args.width, [cv2.resize(cv2.imread(str(p)), size) for p in images])
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeprune-ros-bench-") as folder:
        for imgsz in args.imgsz:
            path = Path(folder) / f"yolov3-{imgsz}.onnx"
            export_onnx(model, path, (imgsz, imgsz),
                        ["red_armor", "red_robot", "blue_robot", "dead_robot", "blue_armor"])
            node = run_node(path, images, args, env)
            alone = detector_alone(path, images, args.camera)
            rows.append((imgsz, node, alone))
            print(f"{imgsz}: {node}, detector alone {alone:.1f} ms", file=sys.stderr)
    kind = rows[0][1]["detections_type"] if rows else "?"
    lines = [
        "# ROS 2 detector node throughput on this CPU", "",
        f"Command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`  ",
        f"Machine: {machine_line()}; rclpy from PyPI (ros-rclpy), Fast DDS over loopback  ",
        f"Load before: `{load_before}`  ",
        f"Load after: `{uptime()}`; this process's niceness at the end: {os.nice(0)}  ",
        f"Model: yolov3 width {args.width}, 5 classes (trained-like output statistics), ONNX "
        f"Runtime CPU, default threads; camera frames {args.camera} bgr8 (UCSD sample "
        f"resized); QoS reliable, keep last 1; detections as {kind}", "",
        "Latencies in ms. One at a time: each frame published when the previous one's "
        "detections came back (median of the probe's publish -> received). Camera: frames "
        f"published at {args.rate:g} Hz for {args.seconds:g} s; node = publish -> detections "
        "published, from the node's latency topic; probe = publish -> detections received.", "",
        "| input | Detector alone, median | one at a time, median | node cost over the "
        "Detector | camera: node p50 | node p99 | node p99/p50 | probe p50 | probe p99 | "
        "images/s | frames answered / published |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for imgsz, node, alone in rows:
        reported, received = node["camera_node_reported_ms"], node["camera_received_ms"]
        one = node["one_at_a_time_ms"]["p50"]
        lines.append(
            f"| {imgsz}x{imgsz} | {alone:.1f} | {one:.1f} | {one - alone:+.1f} | "
            f"{reported['p50']:.1f} | {reported['p99']:.1f} | "
            f"{reported['p99'] / reported['p50']:.2f} | {received['p50']:.1f} | "
            f"{received['p99']:.1f} | {node['images_per_s']:.1f} | "
            f"{node['answered']} / {node['published']} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
