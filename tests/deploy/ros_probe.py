"""Test client for the detector node, run with .venv-ros's python (it needs rclpy).

Publishes real images with known stamps (with --malformed: then a malformed image, then the
first image again), and prints one JSON line: what came back for each stamp on the detections
topic (vision_msgs/Detection2DArray, or the JSON fallback's std_msgs/String with --json) and
on the latency topic, each message as a plain dict, and the type and type hash the node's
detections publisher announces.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String


def image_message(path: str, sec: int, encoding: str) -> Image:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if encoding == "rgb8":
        pixels = bgr[:, :, ::-1].copy()
    elif encoding == "mono8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    else:
        pixels = bgr
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                is_bigendian=0, step=pixels.shape[1] * (1 if pixels.ndim == 2 else 3),
                data=pixels.tobytes())
    msg.header.stamp.sec = sec
    msg.header.frame_id = "camera_optical"
    return msg


def as_dict(value):
    """A ROS message (nested messages, sequences, arrays) as plain JSON-able values."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: as_dict(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, bytes):  # a `byte` field (DiagnosticStatus.level)
        return value[0] if len(value) == 1 else list(value)
    if hasattr(value, "tolist"):  # numpy arrays of fixed-size fields (covariance)
        return value.tolist()
    if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
        return [as_dict(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input-topic", required=True)
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--latency-topic")
    parser.add_argument("--json", action="store_true", help="expect the JSON fallback")
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--malformed", action="store_true",
                        help="then a malformed image (stamp 2000) and the first again (3000)")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()

    rclpy.init()
    node = Node("edgeprune_test_probe")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    publisher = node.create_publisher(Image, args.input_topic, qos)
    received: dict[int, dict] = {}
    latencies: dict[int, dict] = {}

    def on_detections(msg) -> None:
        payload = json.loads(msg.data) if args.json else as_dict(msg)
        received[payload["header"]["stamp"]["sec"]] = {**payload, "arrived": time.monotonic()}

    def on_latency(msg: DiagnosticArray) -> None:
        latencies[msg.header.stamp.sec] = as_dict(msg)

    if args.json:
        node.create_subscription(String, args.output_topic, on_detections, 10)
    else:
        from vision_msgs.msg import Detection2DArray

        node.create_subscription(Detection2DArray, args.output_topic, on_detections, 10)
    if args.latency_topic:
        node.create_subscription(DiagnosticArray, args.latency_topic, on_latency, 10)
    result: dict = {"connected": False, "responses": {}, "latency": {}}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and (publisher.get_subscription_count() == 0
                                           or node.count_publishers(args.output_topic) == 0):
        rclpy.spin_once(node, timeout_sec=0.1)
    result["connected"] = publisher.get_subscription_count() > 0
    result["publishers"] = [{"type": info.topic_type, "type_hash": str(info.topic_type_hash)}
                            for info in node.get_publishers_info_by_topic(args.output_topic)]

    def send_and_wait(msg: Image, wait: float = 10.0) -> None:
        sent = time.monotonic()
        publisher.publish(msg)
        sec = msg.header.stamp.sec
        while time.monotonic() < min(deadline, sent + wait) and (
                sec not in received or (args.latency_topic and sec not in latencies)):
            rclpy.spin_once(node, timeout_sec=0.05)
        if sec in received:
            response = received[sec]
            response["seconds"] = response.pop("arrived") - sent
            result["responses"][str(sec)] = response
        if sec in latencies:
            result["latency"][str(sec)] = latencies[sec]

    encodings = ["bgr8", "rgb8", "mono8"]
    for index, path in enumerate(args.images):
        send_and_wait(image_message(path, 1000 + index, encodings[index % 3]))
    if args.malformed:
        malformed = Image(height=100, width=100, encoding="bgr8", step=300, data=b"\x00" * 10)
        malformed.header.stamp.sec = 2000
        send_and_wait(malformed, wait=2.0)  # nothing may come back for it
        send_and_wait(image_message(args.images[0], 3000, "bgr8"))
    print(json.dumps(result), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
