"""ROS 1 (rospy) adapter: the same parameters, topics and pipeline as the ROS 2 node.

Parameters are private (`~model_path`, `~conf_threshold` ...); `qos_*` have no ROS 1 meaning
except `qos_depth`, the subscriber's queue size. Run, with this package installed by pip
(`pip install deploy/ros2/edgeprune_ros`): `detector_node_ros1 _model_path:=final.onnx
_input_topic:=/camera/image_raw`, or `python3 -m edgeprune_ros.ros1_node ...`.
"""

from __future__ import annotations

import sys

import rospy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from edgeprune_ros.conversions import ImageMessageError
from edgeprune_ros.messages import (
    HAVE_VISION_MSGS,
    Detection2DArray,
    detections_message,
    overlay_message,
)
from edgeprune_ros.params import PARAMETERS, RENAMED, apply_renamed
from edgeprune_ros.pipeline import DetectionPipeline


class Ros1DetectorNode:
    def __init__(self) -> None:
        params = {name: rospy.get_param(f"~{name}", default)
                  for name, default in PARAMETERS.items()}
        for warning in apply_renamed(params, {old: rospy.get_param(f"~{old}", "")
                                              for old in RENAMED}):
            rospy.logwarn(warning)
        self.pipeline = DetectionPipeline(params)
        rospy.set_param("~model_class_names", self.pipeline.names)
        if HAVE_VISION_MSGS:
            self.publisher = rospy.Publisher(params["output_topic"], Detection2DArray,
                                             queue_size=10)
        else:
            self.publisher = rospy.Publisher(params["fallback_topic"], String, queue_size=10)
            rospy.logwarn("vision_msgs is not installed: publishing detections as JSON on "
                          f"{self.publisher.resolved_name} instead of Detection2DArray")
        self.overlay = (rospy.Publisher(params["overlay_topic"], Image, queue_size=1)
                        if params["publish_overlay"] else None)
        self.subscriber = rospy.Subscriber(params["input_topic"], Image, self.on_image,
                                           queue_size=max(1, params["qos_depth"]),
                                           buff_size=2 ** 24)
        rospy.loginfo(f"ready: {params['model_path']} ({self.pipeline.describe()}), "
                      f"{self.subscriber.resolved_name} -> {self.publisher.resolved_name}")

    def on_image(self, msg: Image) -> None:
        try:
            frame = self.pipeline.process(msg.encoding, msg.height, msg.width, msg.step,
                                          msg.data)
        except ImageMessageError as exc:
            rospy.logwarn_throttle(5.0, f"skipping image ({msg.header.frame_id}): {exc}")
            return
        stamp = (msg.header.stamp.secs, msg.header.stamp.nsecs)
        self.publisher.publish(detections_message(frame.boxes, msg.header, stamp, String))
        if self.overlay is not None:
            self.overlay.publish(overlay_message(self.pipeline.overlay(frame), msg.header, Image))


def main() -> int:
    rospy.init_node("edgeprune_detector", argv=sys.argv)
    try:
        Ros1DetectorNode()
    except Exception as exc:  # a bad parameter or model: one clear line, non-zero exit
        print(f"edgeprune_detector: {exc}", file=sys.stderr)
        return 1
    rospy.spin()
    return 0


if __name__ == "__main__":
    sys.exit(main())
