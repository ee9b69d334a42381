"""Cross-check Darknet files against OpenCV's independent Darknet reader.

OpenCV (opencv-python-headless < 5) has its own Darknet parser and yolo layer; agreeing with it
on the same image is the evidence that our .cfg/.weights (and the ONNX made from the same
model) mean what Darknet means. OpenCV's yolo rows are normalized to [0, 1] and their class
columns already hold objectness x class probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.runtime.postprocess import Detections, nms_detections


def opencv_has_darknet() -> bool:
    return hasattr(cv2, "dnn") and hasattr(cv2.dnn, "readNetFromDarknet")


def opencv_darknet_detections(cfg_path: str | Path, weights_path: str | Path, blob: np.ndarray,
                              conf_threshold: float = 0.25,
                              iou_threshold: float = 0.45) -> Detections:
    """Detections of OpenCV's Darknet reader on `blob` (1, C, H, W), boxes in input pixels."""
    if not opencv_has_darknet():
        raise EdgepruneError(f"OpenCV {cv2.__version__} has no Darknet reader "
                             f"(install opencv-python-headless<5)")
    net = cv2.dnn.readNetFromDarknet(str(cfg_path), str(weights_path))
    net.setInput(blob)
    rows = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()), axis=0)
    height, width = blob.shape[2:]
    boxes = rows[:, :4] * np.array([width, height, width, height], dtype=np.float32)
    return nms_detections(boxes, rows[:, 5:], conf_threshold, iou_threshold)


@dataclass(frozen=True)
class DetectionAgreement:
    count_a: int
    count_b: int
    max_box_diff: float  # pixels, over matched pairs
    max_score_diff: float

    def agrees(self, box_tolerance: float = 1.0, score_tolerance: float = 1e-3) -> bool:
        return (self.count_a == self.count_b and self.max_box_diff <= box_tolerance
                and self.max_score_diff <= score_tolerance)


def compare_detections(a: Detections, b: Detections) -> DetectionAgreement:
    """Pair each detection of `a` with the closest same-class detection of `b`."""
    box_diff = score_diff = 0.0
    unused = set(range(len(b)))
    for box, score, cls in zip(a.boxes, a.scores, a.class_ids, strict=True):
        candidates = [j for j in unused if b.class_ids[j] == cls]
        if not candidates:
            return DetectionAgreement(len(a), len(b), float("inf"), float("inf"))
        j = min(candidates, key=lambda k: float(np.abs(b.boxes[k] - box).max()))
        unused.discard(j)
        box_diff = max(box_diff, float(np.abs(b.boxes[j] - box).max()))
        score_diff = max(score_diff, abs(float(b.scores[j]) - float(score)))
    return DetectionAgreement(len(a), len(b), box_diff, score_diff)
