"""Test client for the ROS 1 adapter, run with the system python3 that has Debian's rospy.

Publishes a real image (stamp 1000), a malformed one (2000) and the image again (3000), and
prints one JSON line: the detections that came back for each stamp.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import rospy
from sensor_msgs.msg import Image
from std_msgs.msg import String


def image_message(path: str, secs: int) -> Image:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    msg = Image(height=bgr.shape[0], width=bgr.shape[1], encoding="bgr8", is_bigendian=0,
                step=bgr.shape[1] * 3, data=bgr.tobytes())
    msg.header.stamp = rospy.Time(secs, 0)
    msg.header.frame_id = "camera_optical"
    return msg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    rospy.init_node("edgeprune_ros1_probe", anonymous=True, disable_signals=True)
    received: dict[int, dict] = {}

    def on_detections(msg: String) -> None:
        payload = json.loads(msg.data)
        received[payload["header"]["stamp"]["sec"]] = payload

    publisher = rospy.Publisher("/test/image", Image, queue_size=10)
    rospy.Subscriber("/test/detections_json", String, on_detections, queue_size=10)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and publisher.get_num_connections() == 0:
        time.sleep(0.1)
    time.sleep(1.0)  # the node's publisher must be connected to our subscriber too

    def send_and_wait(msg: Image, wait: float) -> None:
        publisher.publish(msg)
        until = min(deadline, time.monotonic() + wait)
        while time.monotonic() < until and msg.header.stamp.secs not in received:
            time.sleep(0.05)

    send_and_wait(image_message(args.image, 1000), 20.0)
    bad = Image(height=100, width=100, encoding="bgr8", step=300, data=b"\x00" * 10)
    bad.header.stamp = rospy.Time(2000, 0)
    send_and_wait(bad, 2.0)
    send_and_wait(image_message(args.image, 3000), 20.0)
    print(json.dumps({str(k): v for k, v in received.items()}), flush=True)
    rospy.signal_shutdown("done")


if __name__ == "__main__":
    main()
