"""Boxes, class names and scores drawn on a BGR image (`edgeprune predict`, overlay images)."""

from __future__ import annotations

import cv2
import numpy as np

from edgeprune.runtime.postprocess import Detections

# Distinct BGR colours, cycled by class id.
PALETTE = [(56, 56, 255), (255, 112, 31), (31, 200, 58), (0, 194, 255), (255, 56, 199),
           (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
           (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 149, 200), (199, 55, 255)]


def class_colour(class_id: int) -> tuple[int, int, int]:
    return PALETTE[int(class_id) % len(PALETTE)]


def draw_detections(image: np.ndarray, detections: Detections, names: list[str],
                    line_width: int | None = None) -> np.ndarray:
    """A copy of `image` with each detection's box and a "name score" label."""
    canvas = image.copy()
    thickness = line_width or max(1, round(sum(canvas.shape[:2]) / 2 * 0.003))
    font_scale = max(0.35, thickness / 3)
    for box, score, class_id in zip(detections.boxes, detections.scores, detections.class_ids,
                                    strict=True):
        colour = class_colour(class_id)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        name = names[class_id] if 0 <= class_id < len(names) else str(class_id)
        label = f"{name} {score:.2f}"
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX,
                                                     font_scale, max(1, thickness - 1))
        above = y1 - text_h - baseline - 2 >= 0
        top = y1 - text_h - baseline - 2 if above else y1
        cv2.rectangle(canvas, (x1, top), (x1 + text_w + 2, top + text_h + baseline + 2),
                      colour, -1)
        cv2.putText(canvas, label, (x1 + 1, top + text_h + 1), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (255, 255, 255), max(1, thickness - 1), cv2.LINE_AA)
    return canvas
