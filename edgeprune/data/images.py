"""Image files: decoding to BGR uint8, and image size from the file header without decoding.

Datasets hold many thousands of images; loading one must not decode them all. `image_size`
reads only the header of PNG, JPEG, BMP, GIF and WebP files (and decodes anything else). JPEG
EXIF orientation is honoured the same way `read_image` (OpenCV) honours it, so the size from
the header is always the size of the decoded image that labels refer to.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from edgeprune.data.dataset import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                            ".pgm", ".ppm", ".pnm", ".jp2", ".gif"})

# IMREAD_ANYCOLOR | IMREAD_ANYDEPTH: keeps 16-bit depth (scaled below instead of truncated)
# and still applies EXIF orientation, which IMREAD_UNCHANGED would not.
_DECODE_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
_HEADER_BYTES = 64 * 1024


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> np.ndarray:
    """The image at `path` as BGR uint8 (H, W, 3); grayscale, alpha and 16-bit are converted."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: image not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    return decode_image(data, path)


def decode_image(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes like `read_image`; `path` only names the file in errors."""
    image = None
    if data:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), _DECODE_FLAGS)
    if image is None or image.size == 0:
        raise DataError(f"{path}: not a readable image (empty, truncated or unknown format)")
    return to_bgr_uint8(image)


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Convert any decoded image (gray, BGRA, 16-bit, float) to BGR uint8."""
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    elif image.dtype in (np.float32, np.float64):
        image = cv2.convertScaleAbs(np.clip(image, 0.0, 1.0), alpha=255.0)
    elif image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the decoded image, from the header where the format allows it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEADER_BYTES)
            size = _header_size(head, handle)
    except FileNotFoundError:
        raise DataError(f"{path}: image not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    if size is None:
        height, width = read_image(path).shape[:2]
        return width, height
    if size[0] <= 0 or size[1] <= 0:
        raise DataError(f"{path}: image header gives size {size[0]}x{size[1]}")
    return size


def _header_size(head: bytes, handle) -> tuple[int, int] | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head, handle)
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return width, abs(height)  # negative height marks a top-down bitmap
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp_size(head)
    return None


def _jpeg_size(head: bytes, handle) -> tuple[int, int] | None:
    """Walk JPEG markers to the frame header; swap width/height for EXIF rotations."""
    data = head
    offset = 2
    orientation = 1

    def ensure(end: int) -> bool:
        nonlocal data
        if end > len(data):
            data += handle.read(max(end - len(data), _HEADER_BYTES))
        return end <= len(data)

    while ensure(offset + 4):
        if data[offset] != 0xFF:
            return None  # corrupt marker stream: let the decoder decide
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            offset += 2
            continue
        length = struct.unpack(">H", data[offset + 2:offset + 4])[0]
        if marker == 0xE1 and ensure(offset + 4 + length):
            orientation = _exif_orientation(data[offset + 4:offset + 2 + length]) or orientation
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                      0xCF):
            if not ensure(offset + 9):
                return None
            height, width = struct.unpack(">HH", data[offset + 5:offset + 9])
            return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        if marker == 0xDA:  # scan data before any frame header
            return None
        offset += 2 + length
    return None


def _exif_orientation(segment: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in an APP1 Exif segment, if present."""
    if not segment.startswith(b"Exif\x00\x00") or len(segment) < 14:
        return None
    tiff = segment[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    for index in range(count):
        entry = ifd + 2 + 12 * index
        if entry + 12 > len(tiff):
            return None
        tag, kind = struct.unpack(order + "HH", tiff[entry:entry + 4])
        if tag == 0x0112 and kind == 3:
            return struct.unpack(order + "H", tiff[entry + 8:entry + 10])[0]
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return (int.from_bytes(head[24:27], "little") + 1,
                int.from_bytes(head[27:30], "little") + 1)
    return None
