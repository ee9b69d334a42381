"""The `real` domain's camera: the rendered scene through exposure, white balance, optics,
sensor noise and JPEG, each a corruption from `edgeprune.data.corruptions`.

Per image, drawn from its own generator (independent of the scene's):
- optics: motion blur (30%, severity 1-2) or else defocus blur (30%, severity 1-2);
  vignetting always (severity 1-3);
- exposure: under-exposed (20%, brightness_down 1-3), over-exposed (15%, brightness_up 1-2),
  dim light with its own noise (10%, low_light 1-2), or correct (55%);
- sensor noise: shot_noise 1-3 (unless low_light already added noise);
- white balance: off by severity 0-3 (25/35/25/15%);
- JPEG: saved at the quality of jpeg severity 1-3 (75/55/38; 50/35/15%).
The order is the camera's: light through the lens, then the sensor, then the image processor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprune.data.corruptions import CORRUPTIONS, apply_corruption


@dataclass(frozen=True)
class CameraEffects:
    steps: tuple[tuple[str, int], ...]  # (corruption, severity) in the order applied
    jpeg_quality: int

    def describe(self) -> str:
        shown = ", ".join(f"{name} {severity}" for name, severity in self.steps)
        return f"{shown}; jpeg quality {self.jpeg_quality}"


def sample_camera(rng: np.random.Generator) -> CameraEffects:
    steps: list[tuple[str, int]] = []
    blur = rng.random()
    if blur < 0.3:
        steps.append(("motion_blur", int(rng.integers(1, 3))))
    elif blur < 0.6:
        steps.append(("defocus_blur", int(rng.integers(1, 3))))
    steps.append(("vignetting", int(rng.integers(1, 4))))
    exposure = rng.random()
    if exposure < 0.2:
        steps.append(("brightness_down", int(rng.integers(1, 4))))
    elif exposure < 0.35:
        steps.append(("brightness_up", int(rng.integers(1, 3))))
    elif exposure < 0.45:
        steps.append(("low_light", int(rng.integers(1, 3))))
    if not any(name == "low_light" for name, _ in steps):
        steps.append(("shot_noise", int(rng.choice((1, 2, 3), p=(0.4, 0.4, 0.2)))))
    balance = int(rng.choice(4, p=(0.25, 0.35, 0.25, 0.15)))
    if balance:
        steps.append(("white_balance", balance))
    quality = CORRUPTIONS.get("jpeg").levels[int(rng.choice(3, p=(0.5, 0.35, 0.15)))]
    return CameraEffects(tuple(steps), int(quality))


def apply_camera(image: np.ndarray, effects: CameraEffects,
                 rng: np.random.Generator) -> np.ndarray:
    """Every step but the JPEG encoding, which happens when the image is saved."""
    for name, severity in effects.steps:
        image = apply_corruption(name, image, severity, rng)
    return image
