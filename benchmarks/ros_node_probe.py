"""Load generator for ros_node_throughput.py, run with .venv-ros's python (it needs rclpy).

latency: one frame at a time, each sent when the previous one's detections arrived: the time
from publish to detections. throughput: frames published at --rate for --seconds, as a camera
does (keep last 1: a frame the node has not taken yet is replaced by the next one): the
detections that come back per second. Reliable delivery: with best effort, 900 KB frames lose
fragments on a loaded machine and whole frames vanish, which would measure the loss, not the
node. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import cv2
import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String


def frames(paths: list[str], size: tuple[int, int]) -> list[Image]:
    messages = []
    for path in paths:
        bgr = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), size)
        messages.append(Image(height=bgr.shape[0], width=bgr.shape[1], encoding="bgr8",
                              is_bigendian=0, step=bgr.shape[1] * 3, data=bgr.tobytes()))
    return messages


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

    def on_detections(msg: String) -> None:
        stamp = json.loads(msg.data)["header"]["stamp"]
        arrivals[stamp["sec"] * 1_000_000_000 + stamp["nanosec"]] = time.monotonic()

    node.create_subscription(String, "/bench/detections_json", on_detections, 50)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (publisher.get_subscription_count() == 0 or
                                           node.count_publishers("/bench/detections_json") == 0):
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

    latencies = []
    for index in range(args.frames + 5):  # 5 warm-up frames
        key, sent = publish()
        while key not in arrivals and time.monotonic() < sent + 5:
            rclpy.spin_once(node, timeout_sec=0.01)
        if key in arrivals and index >= 5:
            latencies.append(arrivals[key] - sent)
    arrivals.clear()
    started = time.monotonic()
    next_frame, sent_count = started, 0
    while time.monotonic() < started + args.seconds:
        if time.monotonic() >= next_frame:
            publish()
            sent_count += 1
            next_frame += 1 / args.rate
        rclpy.spin_once(node, timeout_sec=max(0.0, min(0.005, next_frame - time.monotonic())))
    drain = time.monotonic() + 1.0
    while time.monotonic() < drain:
        rclpy.spin_once(node, timeout_sec=0.05)
    received = [t for t in arrivals.values() if t <= started + args.seconds + 1.0]
    result = {
        "latency_ms_median": statistics.median(latencies) * 1000 if latencies else None,
        "latency_ms_p90": (statistics.quantiles(latencies, n=10)[-1] * 1000
                           if len(latencies) > 1 else None),
        "latency_frames": len(latencies),
        "published": sent_count, "answered": len(received),
        "images_per_s": len(received) / args.seconds,
    }
    print(json.dumps(result), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
