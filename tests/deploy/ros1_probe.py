"""Test client for the ROS 1 adapter, run with the system python3 that has Debian's rospy and
the genpy-generated vision_msgs on its path.

Publishes a real image (stamp 1000), a malformed one (2000) and the image again (3000), and
prints one JSON line: the Detection2DArray that came back for each stamp, as a plain dict,
and the type and md5sum the node's publisher announced in its connection header.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import genpy
import rospy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray


def image_message(path: str, secs: int) -> Image:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    msg = Image(height=bgr.shape[0], width=bgr.shape[1], encoding="bgr8", is_bigendian=0,
                step=bgr.shape[1] * 3, data=bgr.tobytes())
    msg.header.stamp = rospy.Time(secs, 0)
    msg.header.frame_id = "camera_optical"
    return msg


def as_dict(value):
    """A genpy message (nested messages, lists, times) as plain JSON-able values."""
    if isinstance(value, genpy.Message):
        return {name: as_dict(getattr(value, name)) for name in value.__slots__}
    if isinstance(value, genpy.TVal):
        return {"secs": value.secs, "nsecs": value.nsecs}
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [as_dict(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    rospy.init_node("edgeprune_ros1_probe", anonymous=True, disable_signals=True)
    received: dict[int, dict] = {}
    announced: dict[str, str] = {}

    def on_detections(msg: Detection2DArray) -> None:
        received[msg.header.stamp.secs] = as_dict(msg)
        header = msg._connection_header  # what the node's publisher announced
        announced.update(type=header["type"], md5sum=header["md5sum"])

    publisher = rospy.Publisher("/test/image", Image, queue_size=10)
    rospy.Subscriber("/test/detections", Detection2DArray, on_detections, queue_size=10)
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
    print(json.dumps({"responses": {str(k): v for k, v in received.items()},
                      "announced": announced}), flush=True)
    rospy.signal_shutdown("done")


if __name__ == "__main__":
    main()
