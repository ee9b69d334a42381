"""Test client for the detector node, run with .venv-ros's python (it needs rclpy).

Publishes real images with known stamps, then a malformed image, then one more real image,
and prints one JSON line: what came back on the detections topic for each stamp.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import rclpy
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input-topic", required=True)
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()

    rclpy.init()
    node = Node("edgeprune_test_probe")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    publisher = node.create_publisher(Image, args.input_topic, qos)
    received: dict[int, dict] = {}

    def on_detections(msg: String) -> None:
        payload = json.loads(msg.data)
        received[payload["header"]["stamp"]["sec"]] = {**payload, "arrived": time.monotonic()}

    node.create_subscription(String, args.output_topic, on_detections, 10)
    result: dict = {"connected": False, "responses": {}}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and (publisher.get_subscription_count() == 0
                                           or node.count_publishers(args.output_topic) == 0):
        rclpy.spin_once(node, timeout_sec=0.1)
    result["connected"] = publisher.get_subscription_count() > 0

    def send_and_wait(msg: Image, wait: float = 10.0) -> None:
        sent = time.monotonic()
        publisher.publish(msg)
        sec = msg.header.stamp.sec
        while time.monotonic() < min(deadline, sent + wait) and sec not in received:
            rclpy.spin_once(node, timeout_sec=0.05)
        if sec in received:
            response = received[sec]
            response["seconds"] = response.pop("arrived") - sent
            result["responses"][str(sec)] = response

    encodings = ["bgr8", "rgb8", "mono8"]
    for index, path in enumerate(args.images):
        send_and_wait(image_message(path, 1000 + index, encodings[index % 3]))
    malformed = Image(height=100, width=100, encoding="bgr8", step=300, data=b"\x00" * 10)
    malformed.header.stamp.sec = 2000
    send_and_wait(malformed, wait=2.0)  # nothing may come back for it
    send_and_wait(image_message(args.images[0], 3000, "bgr8"))
    print(json.dumps(result), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
