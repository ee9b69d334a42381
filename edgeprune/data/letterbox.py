"""Letterbox: resize keeping the aspect ratio, pad to the model's input size, and map back.

The same function prepares images for training, evaluation, calibration and the robot, so a
model always sees the geometry it was trained on. The image is scaled by one factor (the largest
that fits), placed in the middle, and the border is filled with grey 114 (the YOLO convention);
boxes found in the padded image map back with `boxes_to_original`. `prepare_batch` is the
network input every BGR image gets (the Detector's pre-processing, also INT8 calibration's).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeprune.errors import EdgepruneError

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


def prepare_batch(images: np.ndarray | list[np.ndarray], imgsz: tuple[int, int]
                  ) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """The Detector's pre-processing, also used by INT8 calibration: letterbox each BGR image
    to `imgsz` (height, width) with grey 114, BGR -> RGB, scale to [0, 1], NCHW float32."""
    images = as_image_list(images)
    batch = np.empty((len(images), 3, *imgsz), dtype=np.float32)
    infos = []
    for index, image in enumerate(images):
        boxed, scale, pad = letterbox(image, imgsz)
        # BGR -> RGB and HWC -> CHW in one strided copy, then scale to [0, 1].
        np.multiply(boxed[..., ::-1].transpose(2, 0, 1), 1 / 255.0, out=batch[index],
                    casting="unsafe")
        infos.append(LetterboxInfo(scale, pad, image.shape[:2]))
    return batch, infos


def as_image_list(images: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    """One (H, W, 3) BGR image, a (B, H, W, 3) array or a list of images, as a list of
    3-channel uint8 images (grey images are expanded to three channels)."""
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            images = list(images)
        elif images.ndim in (2, 3):
            images = [images]
        else:
            raise EdgepruneError(f"expected an (H, W, 3) image or a batch, got {images.shape}")
    if not images:
        raise EdgepruneError("no images given")
    checked = []
    for index, image in enumerate(images):
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise EdgepruneError(f"image {index}: expected uint8 BGR pixels, got {image.dtype}")
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise EdgepruneError(f"image {index}: expected (H, W, 3) BGR, got {image.shape}")
        checked.append(image)
    return checked
