"""read_image and header sizes on real encoded files."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from edgeprune.data import DataError, image_size, read_image


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".webp", ".tif"])
def test_header_size_matches_decoded_size(tmp_path, suffix):
    path = tmp_path / f"img{suffix}"
    assert cv2.imwrite(str(path), np.full((37, 53, 3), 128, np.uint8))
    assert image_size(path) == (53, 37)
    assert read_image(path).shape == (37, 53, 3)


def test_grayscale_alpha_and_16bit_become_bgr_uint8(tmp_path):
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (4, 1))
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    image = read_image(tmp_path / "gray.png")
    assert image.shape == (4, 25, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[:, :, 0], gray)
    deep = np.full((5, 6, 3), 65535, np.uint16)
    deep[0, 0] = 0
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    image = read_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8 and image[1, 1, 0] == 255 and image[0, 0, 0] == 0
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 2] = 200
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    assert read_image(tmp_path / "rgba.png").shape == (3, 4, 3)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0))
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_exif_rotation_swaps_header_size_like_the_decoder(tmp_path):
    ok, encoded = cv2.imencode(".jpg", np.zeros((30, 50, 3), np.uint8))
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(_with_exif_orientation(encoded.tobytes(), 6))
    assert read_image(rotated).shape[:2] == (50, 30)
    assert image_size(rotated) == (30, 50)
    upright = tmp_path / "upright.jpg"
    upright.write_bytes(_with_exif_orientation(encoded.tobytes(), 1))
    assert image_size(upright) == (50, 30)


def test_unreadable_and_missing_images_name_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    ok, encoded = cv2.imencode(".jpg", np.zeros((30, 50, 3), np.uint8))
    broken.write_bytes(encoded.tobytes()[:40])
    with pytest.raises(DataError, match="broken.jpg: not a readable image"):
        read_image(broken)
    with pytest.raises(DataError, match="nothere.png: image not found"):
        read_image(tmp_path / "nothere.png")
    with pytest.raises(DataError, match="nothere.png: image not found"):
        image_size(tmp_path / "nothere.png")
    text = tmp_path / "text.png"
    text.write_text("hello")
    with pytest.raises(DataError, match="text.png: not a readable image"):
        image_size(text)
