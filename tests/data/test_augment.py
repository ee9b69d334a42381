"""Training augmentation: boxes follow the pixels, boxes pushed out are dropped, HSV changes
colour only."""

from __future__ import annotations

import cv2
import numpy as np

from edgeprune.data.augment import AugmentConfig, affine_letterbox, augment_sample


def test_boxes_follow_the_pixels_through_augmentation():
    image = np.full((96, 128, 3), 60, np.uint8)
    image[20:50, 30:90] = 255  # one white object
    boxes = np.array([[30, 20, 90, 50]], np.float32)
    config = AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0, scale=0.4, translate=0.15, fliplr=0.5)
    for seed in range(8):
        rng = np.random.default_rng(seed)
        out, moved, classes = augment_sample(image, boxes, np.array([1]), (64, 64), rng, config)
        assert out.shape == (64, 64, 3)
        white = np.argwhere(out[..., 0] > 200)
        if len(moved) == 0:
            continue  # pushed out of view: then no white pixels should remain either
        (y1, x1), (y2, x2) = white.min(0), white.max(0) + 1
        assert np.abs(moved[0] - [x1, y1, x2, y2]).max() <= 1.5, seed
        assert classes.tolist() == [1]
    again = augment_sample(image, boxes, np.array([1]), (64, 64), np.random.default_rng(3),
                           config)
    first = augment_sample(image, boxes, np.array([1]), (64, 64), np.random.default_rng(3),
                           config)
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1])


def test_boxes_mostly_outside_are_dropped():
    image = np.zeros((64, 64, 3), np.uint8)
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)
    rng = np.random.default_rng(0)
    # shifted 16 px left, the first box lies outside the image and the second is cut nowhere
    out, moved, keep = affine_letterbox(image, boxes - [16, 0, 16, 0], (64, 64), rng, 0, 0)
    assert keep.tolist() == [1] and moved[0].tolist() == [4, 20, 24, 40]


def test_hsv_changes_colour_not_geometry():
    image = cv2.cvtColor(np.full((8, 8, 3), (30, 200, 150), np.uint8), cv2.COLOR_HSV2BGR)
    rng = np.random.default_rng(1)
    out, _, _ = augment_sample(image, np.zeros((0, 4), np.float32), np.zeros(0), (8, 8), rng,
                               AugmentConfig(scale=0, translate=0, fliplr=0))
    assert out.shape == (8, 8, 3) and not np.array_equal(out, image)
