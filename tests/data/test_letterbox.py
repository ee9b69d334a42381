"""Letterbox geometry and its inverse, checked on real pixels."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.data.letterbox import (
    PAD_VALUE,
    boxes_to_letterbox,
    boxes_to_original,
    letterbox,
)


@pytest.mark.parametrize(("original", "target", "scale", "pad"), [
    ((480, 640), (320, 320), 0.5, (0.0, 40.0)),  # wide: bars top and bottom
    ((640, 480), (320, 320), 0.5, (40.0, 0.0)),  # tall: bars left and right
    ((100, 100), (64, 96), 0.64, (16.0, 0.0)),
    ((32, 32), (64, 64), 2.0, (0.0, 0.0)),  # upscaled
])
def test_geometry(original, target, scale, pad):
    image = np.zeros((*original, 3), np.uint8)
    boxed, got_scale, got_pad = letterbox(image, target)
    assert boxed.shape == (*target, 3)
    assert got_scale == pytest.approx(scale)
    assert got_pad == pad


def test_border_is_grey_and_content_lands_where_boxes_say():
    image = np.zeros((480, 640, 3), np.uint8)
    image[100:200, 300:400] = 255  # a white square, x 300..400, y 100..200
    boxed, scale, pad = letterbox(image, (320, 320))
    assert (boxed[:40] == PAD_VALUE).all() and (boxed[-40:] == PAD_VALUE).all()
    x1, y1, x2, y2 = boxes_to_letterbox(np.array([[300, 100, 400, 200]]), scale, pad)[0]
    assert (x1, y1, x2, y2) == (150, 90, 200, 140)
    assert (boxed[int(y1) + 1:int(y2) - 1, int(x1) + 1:int(x2) - 1] == 255).all()
    assert (boxed[int(y2) + 1:int(y2) + 5, int(x1):int(x2)] == 0).all()


def test_inverse_round_trip_and_clipping():
    boxes = np.array([[10.5, 20.25, 300, 400], [0, 0, 640, 480]], np.float32)
    scale, pad = 0.5, (0.0, 40.0)
    back = boxes_to_original(boxes_to_letterbox(boxes, scale, pad), scale, pad, (480, 640))
    np.testing.assert_allclose(back, boxes, atol=1e-4)
    outside = boxes_to_original(np.array([[-10, 0, 400, 330]]), scale, pad, (480, 640))
    np.testing.assert_allclose(outside, [[0, 0, 640, 480]])


def test_no_scaleup_keeps_small_images_sharp():
    image = np.full((20, 30, 3), 7, np.uint8)
    boxed, scale, pad = letterbox(image, (64, 64), scaleup=False)
    assert scale == 1.0 and pad == (17.0, 22.0)
    assert (boxed[22:42, 17:47] == 7).all()


def test_grey_image_and_bad_shape():
    boxed, _, _ = letterbox(np.zeros((10, 20), np.uint8), (32, 32))
    assert boxed.shape == (32, 32)
    with pytest.raises(ValueError, match="image"):
        letterbox(np.zeros((0, 5, 3), np.uint8), (32, 32))
