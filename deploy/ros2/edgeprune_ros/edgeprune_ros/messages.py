"""The messages the node publishes for one frame, shared by the ROS 2 node and the rospy
adapter: both have the same sensor_msgs/std_msgs/vision_msgs layouts, only the stamp's field
names differ (ROS 2 sec/nanosec, ROS 1 secs/nsecs), so the caller passes the stamp as numbers.
"""

from __future__ import annotations

import json

import numpy as np

from edgeprune_ros.conversions import Box2D, boxes_to_json_payload, fill_detection_array

try:  # vision_msgs has no PyPI wheel; without it detections go out as JSON (README).
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    HAVE_VISION_MSGS = True
except ImportError:
    Detection2D = Detection2DArray = ObjectHypothesisWithPose = None
    HAVE_VISION_MSGS = False


def detections_message(boxes: list[Box2D], header, stamp: tuple[int, int], string_type):
    """A Detection2DArray with the input's header where vision_msgs is installed, else the
    documented JSON body in a std_msgs/String of `string_type`."""
    if HAVE_VISION_MSGS:
        return fill_detection_array(Detection2DArray(header=header), boxes, Detection2D,
                                    ObjectHypothesisWithPose, header)
    payload = boxes_to_json_payload(boxes, stamp[0], stamp[1], header.frame_id)
    return string_type(data=json.dumps(payload))


def overlay_message(drawn: np.ndarray, header, image_type):
    """The overlay (a BGR frame with the boxes drawn) as a bgr8 sensor_msgs/Image."""
    return image_type(header=header, height=drawn.shape[0], width=drawn.shape[1],
                      encoding="bgr8", is_bigendian=0, step=drawn.shape[1] * 3,
                      data=drawn.tobytes())
