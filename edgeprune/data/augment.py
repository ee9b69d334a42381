"""Training augmentation: letterbox with random scale and translation, HSV jitter, flip.

The geometric part is one affine warp: the letterbox placement (the exact geometry the
Detector uses at inference) followed by a random zoom about the image centre and a random
shift, so an image is resampled once. Boxes follow the same matrix and are dropped when too
little of them is left inside the image. Every draw comes from the `numpy.random.Generator`
passed in, so a (seed, epoch, index) triple gives the same sample in any worker process.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeprune.data.letterbox import PAD_VALUE, letterbox_geometry


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; zero turns one off."""

    scale: float = 0.5  # zoom factor drawn from [1 - scale, 1 + scale]
    translate: float = 0.1  # shift, as a fraction of the input size, each way
    hsv_h: float = 0.015  # hue gain (fraction of the hue circle)
    hsv_s: float = 0.7  # saturation gain
    hsv_v: float = 0.4  # value (brightness) gain
    fliplr: float = 0.5  # probability of a horizontal flip
    min_visible: float = 0.25  # drop a box with less of its area than this left in the image
    min_side: float = 2.0  # drop a box thinner than this (input pixels)


NO_AUGMENT = AugmentConfig(scale=0.0, translate=0.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0,
                           fliplr=0.0)


def affine_letterbox(image: np.ndarray, boxes: np.ndarray, imgsz: tuple[int, int],
                     rng: np.random.Generator, scale: float, translate: float,
                     min_visible: float = 0.25, min_side: float = 2.0,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp `image` into `imgsz` (h, w): letterbox, then zoom and shift at random.

    Returns (image, boxes in input pixels, indices of the boxes kept).
    """
    height, width = imgsz
    fit, _, (left, top) = letterbox_geometry(image.shape[:2], imgsz)
    zoom = rng.uniform(1 - scale, 1 + scale) if scale > 0 else 1.0
    shift = rng.uniform(-translate, translate, 2) * (width, height) if translate > 0 else (0, 0)
    centre = np.array([width / 2, height / 2])
    factor = fit * zoom
    offset = (np.array([left, top]) - centre) * zoom + centre + shift
    # Boxes use continuous coordinates (x' = factor x + offset); warpAffine maps pixel
    # indices, whose centres sit at +0.5, hence the half-pixel term (as cv2.resize aligns).
    pixel_offset = offset + 0.5 * (factor - 1)
    matrix = np.array([[factor, 0, pixel_offset[0]], [0, factor, pixel_offset[1]]])
    warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                            borderValue=(PAD_VALUE,) * 3)
    moved = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * factor
    moved += np.tile(offset, 2)
    area_before = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    moved[:, [0, 2]] = moved[:, [0, 2]].clip(0, width)
    moved[:, [1, 3]] = moved[:, [1, 3]].clip(0, height)
    sides = moved[:, 2:] - moved[:, :2]
    area_after = sides[:, 0] * sides[:, 1]
    keep = np.nonzero((sides[:, 0] > min_side) & (sides[:, 1] > min_side)
                      & (area_after > min_visible * np.maximum(area_before, 1e-9)))[0]
    return warped, moved[keep].astype(np.float32), keep


def augment_hsv(image: np.ndarray, rng: np.random.Generator, hue: float, saturation: float,
                value: float) -> np.ndarray:
    """Random hue shift and saturation / brightness gains through lookup tables (BGR uint8)."""
    if not (hue or saturation or value):
        return image
    gains = rng.uniform(-1, 1, 3) * (hue, saturation, value) + 1
    channel_h, channel_s, channel_v = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    levels = np.arange(256, dtype=np.float64)
    lut_h = ((levels * gains[0]) % 180).astype(np.uint8)
    lut_s = np.clip(levels * gains[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(levels * gains[2], 0, 255).astype(np.uint8)
    merged = cv2.merge((cv2.LUT(channel_h, lut_h), cv2.LUT(channel_s, lut_s),
                        cv2.LUT(channel_v, lut_v)))
    return cv2.cvtColor(merged, cv2.COLOR_HSV2BGR)


def flip_horizontal(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    width = image.shape[1]
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), flipped


def augment_sample(image: np.ndarray, boxes: np.ndarray, class_ids: np.ndarray,
                   imgsz: tuple[int, int], rng: np.random.Generator,
                   config: AugmentConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training sample: BGR image in original pixels -> (image, boxes, class ids) at
    `imgsz`, boxes x1, y1, x2, y2 in input pixels."""
    warped, moved, keep = affine_letterbox(image, boxes, imgsz, rng, config.scale,
                                           config.translate, config.min_visible,
                                           config.min_side)
    warped = augment_hsv(warped, rng, config.hsv_h, config.hsv_s, config.hsv_v)
    if config.fliplr > 0 and rng.random() < config.fliplr:
        warped, moved = flip_horizontal(warped, moved)
    return warped, moved, np.asarray(class_ids)[keep]
