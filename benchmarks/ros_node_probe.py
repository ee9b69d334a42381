"""Load generator for ros_node_throughput.py, run with .venv-ros's python (it needs rclpy).

one at a time: each frame sent when the previous one's detections arrived, the time from
publish to detections received. camera: frames published at --rate for --seconds, as a camera
does (keep last 1: a frame the node has not taken yet is replaced by the next one): the
detections that come back per second, the probe's publish -> received time of each answered
frame, and the node's own publish -> detections time of each (its latency topic,
diagnostic_msgs/DiagnosticArray, one per frame). Reliable delivery: with best effort, 900 KB
frames lose fragments on a loaded machine and whole frames vanish, which would measure the
loss, not the node. Detections come as vision_msgs/Detection2DArray where it is installed,
else as the JSON fallback. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

try:
    from vision_msgs.msg import Detection2DArray
except ImportError:
    Detection2DArray = None


def frames(paths: list[str], size: tuple[int, int]) -> list[Image]:
    messages = []
    for path in paths:
        bgr = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), size)
        messages.append(Image(height=bgr.shape[0], width=bgr.shape[1], encoding="bgr8",
                              is_bigendian=0, step=bgr.shape[1] * 3, data=bgr.tobytes()))
    return messages


def percentiles(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"p50": None, "p99": None, "frames": 0}
    return {"p50": float(np.percentile(values_ms, 50)), "p99": float(np.percentile(values_ms, 99)),
            "frames": len(values_ms)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--camera", default="640x480")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.camera.split("x"))
    rclpy.init()
    node = Node("edgeprune_bench_probe")
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE)
    publisher = node.create_publisher(Image, "/bench/image", qos)
    arrivals: dict[int, float] = {}
    node_reported: dict[int, float] = {}

    def key(stamp) -> int:
        return stamp.sec * 1_000_000_000 + stamp.nanosec

    def on_detections(msg) -> None:
        arrivals[key(msg.header.stamp)] = time.monotonic()

    def on_json(msg: String) -> None:
        stamp = json.loads(msg.data)["header"]["stamp"]
        arrivals[stamp["sec"] * 1_000_000_000 + stamp["nanosec"]] = time.monotonic()

    def on_latency(msg: DiagnosticArray) -> None:
        values = {pair.key: pair.value for pair in msg.status[0].values}
        if values["publish_to_detections_ms"]:
            node_reported[key(msg.header.stamp)] = float(values["publish_to_detections_ms"])

    if Detection2DArray is not None:
        output = "/bench/detections"
        node.create_subscription(Detection2DArray, output, on_detections, 50)
    else:
        output = "/bench/detections_json"
        node.create_subscription(String, output, on_json, 50)
    node.create_subscription(DiagnosticArray, "/bench/latency", on_latency, 50)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (publisher.get_subscription_count() == 0 or
                                           node.count_publishers(output) == 0):
        rclpy.spin_once(node, timeout_sec=0.1)
    messages = frames(args.images, size)
    sequence = 0

    def publish() -> tuple[int, float]:
        nonlocal sequence
        sequence += 1
        msg = messages[sequence % len(messages)]
        msg.header.stamp.sec, msg.header.stamp.nanosec = sequence, 0
        sent = time.monotonic()
        publisher.publish(msg)
        return sequence * 1_000_000_000, sent

    one_at_a_time = []
    for index in range(args.frames + 5):  # 5 warm-up frames
        frame_key, sent = publish()
        while frame_key not in arrivals and time.monotonic() < sent + 5:
            rclpy.spin_once(node, timeout_sec=0.01)
        if frame_key in arrivals and index >= 5:
            one_at_a_time.append((arrivals[frame_key] - sent) * 1000)
    arrivals.clear()
    node_reported.clear()
    sent_at: dict[int, float] = {}
    started = time.monotonic()
    next_frame = started
    while time.monotonic() < started + args.seconds:
        if time.monotonic() >= next_frame:
            frame_key, sent = publish()
            sent_at[frame_key] = sent
            next_frame += 1 / args.rate
        rclpy.spin_once(node, timeout_sec=max(0.0, min(0.005, next_frame - time.monotonic())))
    drain = time.monotonic() + 1.0
    while time.monotonic() < drain:
        rclpy.spin_once(node, timeout_sec=0.05)
    answered = {k: t for k, t in arrivals.items()
                if k in sent_at and t <= started + args.seconds + 1.0}
    result = {
        "one_at_a_time_ms": percentiles(one_at_a_time),
        "camera_received_ms": percentiles([(t - sent_at[k]) * 1000 for k, t in answered.items()]),
        "camera_node_reported_ms": percentiles([node_reported[k] for k in answered
                                                if k in node_reported]),
        "published": len(sent_at), "answered": len(answered),
        "images_per_s": len(answered) / args.seconds,
        "detections_type": "vision_msgs/Detection2DArray" if Detection2DArray else "JSON",
    }
    print(json.dumps(result), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
