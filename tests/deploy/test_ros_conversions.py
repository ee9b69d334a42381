"""Image-message conversions of the ROS node, which need no ROS client library."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "ros2" / "edgeprune_ros"))
from edgeprune_ros.conversions import ImageMessageError, image_to_bgr  # noqa: E402

sys.path.pop(0)


def test_conversions_handle_every_encoding_and_reject_bad_messages():
    bgr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = bgr.reshape(2, 9)  # rows padded to a 12-byte step
    assert np.array_equal(image_to_bgr("bgr8", 2, 3, 12, padded.tobytes()), bgr)
    assert np.array_equal(image_to_bgr("rgb8", 2, 3, 9, bgr[:, :, ::-1].tobytes()), bgr)
    mono = image_to_bgr("mono8", 2, 3, 3, bytes(range(6)))
    assert mono.shape == (2, 3, 3) and np.array_equal(mono[:, :, 0], mono[:, :, 2])
    with pytest.raises(ImageMessageError, match="unsupported encoding 'bayer_rggb8'"):
        image_to_bgr("bayer_rggb8", 2, 3, 3, bytes(6))
    with pytest.raises(ImageMessageError, match="10 bytes of data for 100 rows"):
        image_to_bgr("bgr8", 100, 100, 300, bytes(10))
    with pytest.raises(ImageMessageError, match="step 5 is shorter"):
        image_to_bgr("bgr8", 2, 3, 5, bytes(10))
