"""Letterbox: resize keeping the aspect ratio, pad to the model's input size, and map back.

The same function prepares images for training, evaluation, calibration and the robot, so a
model always sees the geometry it was trained on. The image is scaled by one factor (the largest
that fits), placed in the middle, and the border is filled with grey 114 (the YOLO convention);
boxes found in the padded image map back with `boxes_to_original`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxInfo:
    """How an original image sits in the letterboxed one: input = original x scale + pad."""

    scale: float
    pad: tuple[float, float]  # (left, top) in letterboxed pixels
    original_hw: tuple[int, int]


def letterbox_geometry(original_hw: tuple[int, int], new_hw: tuple[int, int],
                       scaleup: bool = True) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """(scale, resized (h, w), pad (left, top)) for an image of `original_hw` into `new_hw`."""
    height, width = original_hw
    scale = min(new_hw[0] / height, new_hw[1] / width)
    if not scaleup:
        scale = min(scale, 1.0)
    resized = (max(1, round(height * scale)), max(1, round(width * scale)))
    pad = ((new_hw[1] - resized[1]) // 2, (new_hw[0] - resized[0]) // 2)
    return scale, resized, pad


def letterbox(image: np.ndarray, new_hw: tuple[int, int], color: int = PAD_VALUE,
              scaleup: bool = True) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Fit `image` (H, W[, C]) into `new_hw` (height, width): returns (image, scale, pad).

    `pad` is (left, top) in pixels of the returned image, so a point (x, y) of the original is
    at (x * scale + left, y * scale + top). `scaleup=False` only shrinks (small images keep
    their pixels and get more border).
    """
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"letterbox expects an (H, W) or (H, W, C) image, got {image.shape}")
    scale, resized, (left, top) = letterbox_geometry(image.shape[:2], new_hw, scaleup)
    if resized != image.shape[:2]:
        image = cv2.resize(image, (resized[1], resized[0]), interpolation=cv2.INTER_LINEAR)
    bottom = new_hw[0] - resized[0] - top
    right = new_hw[1] - resized[1] - left
    channels = 1 if image.ndim == 2 else image.shape[2]
    border = (color,) * channels if channels > 1 else color
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT,
                               value=border)
    return image, scale, (float(left), float(top))


def boxes_to_letterbox(boxes: np.ndarray, scale: float, pad: tuple[float, float]) -> np.ndarray:
    """Boxes (K, 4) x1, y1, x2, y2 in original pixels to letterboxed pixels."""
    offset = np.array([pad[0], pad[1], pad[0], pad[1]], dtype=np.float32)
    return (np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * scale + offset).astype(np.float32)


def boxes_to_original(boxes: np.ndarray, scale: float, pad: tuple[float, float],
                      original_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The inverse of `boxes_to_letterbox`; clipped to the image when `original_hw` is given."""
    offset = np.array([pad[0], pad[1], pad[0], pad[1]], dtype=np.float32)
    out = (np.asarray(boxes, dtype=np.float32).reshape(-1, 4) - offset) / scale
    if original_hw is not None:
        height, width = original_hw
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out.astype(np.float32)
