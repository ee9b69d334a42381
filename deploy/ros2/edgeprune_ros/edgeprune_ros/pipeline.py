"""What both nodes do with their parameters and each image message, without any ROS import:
check the parameters, build the Detector, turn a message into detections and boxes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from edgeprune_ros.conversions import Box2D, detections_to_boxes, image_to_bgr


@dataclass
class Frame:
    image: object  # BGR uint8 (H, W, 3)
    detections: object  # edgeprune Detections, boxes in image pixels
    boxes: list[Box2D]  # the published ones (class filter applied)
    detector_s: float  # time in the Detector call


class DetectionPipeline:
    """The Detector configured from node parameters (a dict with every key of PARAMETERS)."""

    def __init__(self, params: dict) -> None:
        model_path = params["model_path"]
        if not model_path:
            raise ValueError("parameter model_path is required (an .onnx, .engine or .pt)")
        thresholds = {name: number(params, name) for name in ("conf_threshold",
                                                              "iou_threshold")}
        for name, value in thresholds.items():
            if not 0 <= value <= 1:
                raise ValueError(f"parameter {name} must be in [0, 1], got {value}")
        if params["qos_reliability"] not in ("best_effort", "reliable"):
            raise ValueError(f"parameter qos_reliability must be best_effort or reliable, got "
                             f"{params['qos_reliability']!r}")
        from edgeprune.runtime.detector import Detector  # heavy: after the parameters are sane

        imgsz = params["imgsz"]
        self.detector = Detector(model_path, runtime=params["runtime"],
                                 imgsz=imgsz if imgsz not in ("", 0, "0") else None,
                                 max_detections=params["max_detections"],
                                 device=params["runtime_device"] or None, **thresholds)
        self.names = list(self.detector.names)
        self.allowed_classes = {c for c in params["classes"] if c} or None
        unknown = (self.allowed_classes or set()) - set(self.names)
        if unknown:
            raise ValueError(f"classes {sorted(unknown)} are not among the model's classes "
                             f"{self.names}")

    def describe(self) -> str:
        height, width = self.detector.imgsz
        return (f"{self.detector.runtime.describe()}, {width}x{height}, "
                f"{len(self.names)} classes")

    def process(self, encoding: str, height: int, width: int, step: int, data) -> Frame:
        """Detections for one image message's fields; ImageMessageError for a bad message."""
        image = image_to_bgr(encoding, height, width, step, data)
        started = time.perf_counter()
        detections = self.detector(image)[0]
        detector_s = time.perf_counter() - started
        return Frame(image, detections,
                     detections_to_boxes(detections, self.names, self.allowed_classes),
                     detector_s)

    def overlay(self, frame: Frame):
        from edgeprune.runtime.draw import draw_detections

        return draw_detections(frame.image, frame.detections, self.names)


def number(params: dict, name: str) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter {name} must be a number, got {value!r}")
    return float(value)
