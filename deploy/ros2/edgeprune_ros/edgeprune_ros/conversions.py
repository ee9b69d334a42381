"""Message <-> array conversions shared by the ROS 2 node and the ROS 1 adapter.

Nothing here imports a ROS client library: image messages are read through their fields
(encoding, height, width, step, data), so the same code serves rclpy and rospy and is tested
without either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# encoding -> (channels, conversion to BGR)
_ENCODINGS = {
    "bgr8": (3, None),
    "rgb8": (3, "rgb"),
    "mono8": (1, "mono"),
    "8uc1": (1, "mono"),
    "8uc3": (3, None),
    "bgra8": (4, "bgra"),
    "rgba8": (4, "rgba"),
}
SUPPORTED_ENCODINGS = ("bgr8", "rgb8", "mono8", "bgra8", "rgba8")


class ImageMessageError(ValueError):
    """An image message that cannot be turned into pixels (the node logs it and goes on)."""


def image_to_bgr(encoding: str, height: int, width: int, step: int, data: bytes) -> np.ndarray:
    """A sensor_msgs/Image's fields as a BGR uint8 array (H, W, 3), copied.

    Rows may be padded (step > width x channels), as some camera drivers send them.
    """
    key = encoding.lower()
    if key not in _ENCODINGS:
        raise ImageMessageError(f"unsupported encoding {encoding!r} "
                                f"(supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, conversion = _ENCODINGS[key]
    if height <= 0 or width <= 0:
        raise ImageMessageError(f"empty image {width}x{height}")
    if step < width * channels:
        raise ImageMessageError(f"step {step} is shorter than a row of {width} x {channels} "
                                f"bytes")
    if len(data) < step * height:
        raise ImageMessageError(f"{len(data)} bytes of data for {height} rows of {step} bytes")
    buffer = np.frombuffer(bytes(data[:step * height]), dtype=np.uint8).reshape(height, step)
    pixels = buffer[:, :width * channels].reshape(height, width, channels)
    if conversion is None:
        return pixels.copy()
    if conversion == "rgb":
        return pixels[:, :, ::-1].copy()
    if conversion == "mono":
        return np.repeat(pixels, 3, axis=2)
    if conversion == "bgra":
        return pixels[:, :, :3].copy()
    return pixels[:, :, 2::-1].copy()  # rgba


@dataclass(frozen=True)
class Box2D:
    """One detection as vision_msgs describes it: centre, size, class id and score."""

    class_id: int
    class_name: str
    score: float
    center_x: float
    center_y: float
    size_x: float
    size_y: float


def detections_to_boxes(detections, names: list[str],
                        allowed_classes: set[str] | None = None) -> list[Box2D]:
    """Detections (x1, y1, x2, y2 in image pixels) as centre/size boxes, optionally filtered."""
    boxes = []
    for (x1, y1, x2, y2), score, class_id in zip(detections.boxes, detections.scores,
                                                detections.class_ids, strict=True):
        name = names[int(class_id)] if int(class_id) < len(names) else str(int(class_id))
        if allowed_classes and name not in allowed_classes:
            continue
        boxes.append(Box2D(int(class_id), name, float(score), float(x1 + x2) / 2,
                           float(y1 + y2) / 2, float(x2 - x1), float(y2 - y1)))
    return boxes


def boxes_to_json_payload(boxes: list[Box2D], stamp_sec: int, stamp_nanosec: int,
                          frame_id: str) -> dict:
    """The fallback topic's message body (std_msgs/String JSON), documented in the README."""
    return {
        "header": {"stamp": {"sec": stamp_sec, "nanosec": stamp_nanosec}, "frame_id": frame_id},
        "detections": [{"class_id": b.class_id, "class_name": b.class_name, "score": b.score,
                        "bbox": {"center_x": b.center_x, "center_y": b.center_y,
                                 "size_x": b.size_x, "size_y": b.size_y}} for b in boxes],
    }


def fill_detection_array(array, boxes: list[Box2D], detection_type, hypothesis_type,
                         header=None):
    """Append `boxes` to a vision_msgs Detection2DArray `array`. Works with the layout of
    vision_msgs 4 (ROS 2 Humble and later: bbox.center.position, hypothesis.class_id, a string:
    the class name) and the older one (ROS 1 Noetic, ROS 2 Foxy: bbox.center.x, an integer
    id: the class index)."""
    for box in boxes:
        detection = detection_type()
        if header is not None:
            detection.header = header
        center = detection.bbox.center
        point = center.position if hasattr(center, "position") else center
        point.x, point.y = box.center_x, box.center_y
        detection.bbox.size_x = box.size_x
        detection.bbox.size_y = box.size_y
        hypothesis = hypothesis_type()
        target = hypothesis.hypothesis if hasattr(hypothesis, "hypothesis") else hypothesis
        if hasattr(target, "class_id"):
            target.class_id = box.class_name
        else:
            target.id = box.class_id
        target.score = box.score
        detection.results.append(hypothesis)
        array.detections.append(detection)
    return array
