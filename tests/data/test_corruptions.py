"""Camera corruptions: identity at 0, stronger with severity, deterministic, clear errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeprune.data.corruptions import (
    CORRUPTIONS,
    CorruptionError,
    apply_corruption,
    list_corruptions,
)
from edgeprune.errors import EdgepruneError

REQUIRED = {"gaussian_noise", "shot_noise", "motion_blur", "defocus_blur", "brightness_up",
            "brightness_down", "contrast", "white_balance", "jpeg", "low_light", "vignetting"}


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A textured image: blocks of colour with edges, mid-range brightness."""
    blocks = np.random.default_rng(7).integers(40, 215, (12, 16, 3), dtype=np.uint8)
    return cv2.resize(blocks, (160, 120), interpolation=cv2.INTER_NEAREST)


def change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_registry_has_the_robot_camera_effects():
    assert set(list_corruptions()) >= REQUIRED
    for entry in map(CORRUPTIONS.get, CORRUPTIONS.names()):
        assert len(entry.levels) == 5 and entry.summary
        assert entry.describe().startswith(entry.name)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_identity_at_zero_and_stronger_with_severity(scene, name):
    same = apply_corruption(name, scene, 0, np.random.default_rng(0))
    assert same is not scene and np.array_equal(same, scene)
    changes = []
    for severity in range(1, 6):
        out = apply_corruption(name, scene, severity, np.random.default_rng(severity))
        assert out.shape == scene.shape and out.dtype == np.uint8
        changes.append(change(out, scene))
    assert changes[0] > 0.2, changes
    assert changes[-1] > 1.5 * changes[0], changes


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_same_generator_state_same_bytes(scene, name):
    first = apply_corruption(name, scene, 3, np.random.default_rng(42))
    second = apply_corruption(name, scene, 3, np.random.default_rng(42))
    assert np.array_equal(first, second)


def test_effects_point_the_right_way(scene):
    rng = np.random.default_rng(0)
    assert apply_corruption("brightness_up", scene, 3, rng).mean() > scene.mean() + 10
    assert apply_corruption("brightness_down", scene, 3, rng).mean() < scene.mean() - 10
    assert apply_corruption("low_light", scene, 3, rng).mean() < scene.mean() - 10
    assert apply_corruption("contrast", scene, 4, rng).std() < 0.5 * scene.std()
    flat = np.full((120, 160, 3), 200, np.uint8)
    vignetted = apply_corruption("vignetting", flat, 5, rng)
    assert vignetted[60, 80, 0] >= 199 and vignetted[0, 0, 0] < 160
    noisy = apply_corruption("gaussian_noise", flat, 3, rng).astype(float)
    assert abs(noisy.mean() - 200) < 1 and 9 < noisy.std() < 15  # sigma 12
    dark, bright = np.full((64, 64, 3), 20, np.uint8), np.full((64, 64, 3), 230, np.uint8)
    assert (apply_corruption("shot_noise", bright, 3, rng).std()
            > 2 * apply_corruption("shot_noise", dark, 3, rng).std())  # signal-dependent
    shifted = apply_corruption("white_balance", flat, 5, rng).reshape(-1, 3).mean(0)
    assert abs(shifted[0] - shifted[2]) > 40  # blue and red pulled apart
    edge = np.zeros((64, 64, 3), np.uint8)
    edge[:, 32:] = 255
    blurred = apply_corruption("defocus_blur", edge, 5, rng)
    assert 0 < blurred[32, 31, 0] < 255


def test_blur_scales_with_resolution():
    small = np.zeros((60, 80, 3), np.uint8)
    small[:, 40:] = 255
    large = cv2.resize(small, (640, 480), interpolation=cv2.INTER_NEAREST)
    rng = np.random.default_rng(0)
    width_small = np.count_nonzero((apply_corruption("defocus_blur", small, 5, rng)[30, :, 0]
                                    % 255) > 0)
    width_large = np.count_nonzero((apply_corruption("defocus_blur", large, 5, rng)[240, :, 0]
                                    % 255) > 0)
    assert width_large > 4 * width_small


@pytest.mark.parametrize(("args", "message"), [
    (("fog", 1), "unknown corruption 'fog'"),
    (("jpeg", 6), "severity must be an integer 0..5"),
    (("jpeg", -1), "severity must be an integer 0..5"),
    (("jpeg", 2.0), "severity must be an integer 0..5"),
    (("jpeg", True), "severity must be an integer 0..5"),
])
def test_bad_arguments_are_clear_errors(scene, args, message):
    name, severity = args
    with pytest.raises(CorruptionError, match=message):
        apply_corruption(name, scene, severity, np.random.default_rng(0))


def test_bad_images_are_clear_errors(scene):
    rng = np.random.default_rng(0)
    with pytest.raises(EdgepruneError, match="expected a BGR uint8 image"):
        apply_corruption("jpeg", scene.astype(np.float32), 1, rng)
    with pytest.raises(EdgepruneError, match="expected a BGR uint8 image"):
        apply_corruption("jpeg", scene[:, :, 0], 1, rng)
    with pytest.raises(EdgepruneError, match="numpy.random.Generator"):
        apply_corruption("jpeg", scene, 1, 0)
