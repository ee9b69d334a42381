"""From the model's raw output rows to final detections: score threshold and class-aware NMS.

Rows follow the ONNX output contract (cx, cy, w, h, objectness, class probabilities); a
detection's score is objectness x class probability, as in Darknet. NMS is OpenCV's
(torchvision is not a dependency).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Detections:
    """Boxes (x1, y1, x2, y2) in pixels, scores and class ids, sorted by score (descending)."""

    boxes: np.ndarray  # (K, 4) float32
    scores: np.ndarray  # (K,) float32
    class_ids: np.ndarray  # (K,) int64

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


# Box coordinates are bounded to +-this many input pixels (and boxes that are not finite
# dropped): an untrained head decodes exp(huge) widths (3e38, inf) that no image holds, and
# mapping those back to the original image overflowed float32 with a RuntimeWarning in the
# first epoch of every training.
COORDINATE_BOUND = 1e5


def class_scores(rows: np.ndarray) -> np.ndarray:
    """Per-class detection scores (N, C) = objectness x class probability."""
    return rows[:, 5:] * rows[:, 4:5]


def nms_detections(boxes_xywh: np.ndarray, scores: np.ndarray, conf_threshold: float = 0.25,
                   iou_threshold: float = 0.45, max_detections: int = 300,
                   multi_label: bool = False) -> Detections:
    """Threshold per-class `scores` (N, C) and run class-aware NMS on centre-size boxes.

    `multi_label` keeps every class above the threshold for a box (better for mAP); otherwise
    only its best class (what a robot acts on).
    """
    if multi_label:
        box_index, class_ids = np.nonzero(scores > conf_threshold)
        kept_scores = scores[box_index, class_ids]
    else:
        class_ids = scores.argmax(axis=1) if len(scores) else np.zeros(0, np.int64)
        best = scores[np.arange(len(scores)), class_ids]
        box_index = np.nonzero(best > conf_threshold)[0]
        class_ids, kept_scores = class_ids[box_index], best[box_index]
    finite = np.isfinite(boxes_xywh[box_index]).all(axis=1)  # inf/nan: no box at all
    box_index, class_ids, kept_scores = box_index[finite], class_ids[finite], kept_scores[finite]
    if len(box_index) == 0:
        return Detections.empty()
    xywh = boxes_xywh[box_index].astype(np.float64).clip(-COORDINATE_BOUND, COORDINATE_BOUND)
    xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2],
                          axis=1).clip(-COORDINATE_BOUND, COORDINATE_BOUND).astype(np.float32)
    xywh = xywh.astype(np.float32)
    top_left_wh = np.concatenate([xyxy[:, :2], xywh[:, 2:]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(top_left_wh.tolist(), kept_scores.astype(float).tolist(),
                                   class_ids.astype(int).tolist(), conf_threshold, iou_threshold)
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    keep = keep[np.argsort(-kept_scores[keep], kind="stable")][:max_detections]
    return Detections(xyxy[keep].astype(np.float32), kept_scores[keep].astype(np.float32),
                      class_ids[keep].astype(np.int64))


def decode_rows(rows: np.ndarray, conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                max_detections: int = 300, multi_label: bool = False) -> Detections:
    """Detections from one image's output rows (N, 5 + C), boxes in model-input pixels."""
    return nms_detections(rows[:, :4], class_scores(rows), conf_threshold, iou_threshold,
                          max_detections, multi_label)
