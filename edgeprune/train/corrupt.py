"""Robust fine-tuning: the student trains on corrupted copies of its batches, the teacher sees
the clean ones.

Compressed detectors lose most under noise and blur, pruning hurts noisy and rare images
disproportionately (Hooker et al.), and augmentation helps; so fine-tuning can train on the
corruption family the search's robust accuracy used (search/robust.py). Each image of a batch
is corrupted with probability `share` by one corruption and severity drawn from a generator
seeded by (seed, epoch, step), so a resumed run corrupts exactly as an uninterrupted one. The
distillation term keeps the teacher on the clean image: the student learns to see through the
corruption what the base sees without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class BatchCorruption:
    corruptions: tuple[str, ...]
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    share: float = 0.5  # of the images of a batch that are corrupted

    def __post_init__(self) -> None:
        from edgeprune.data.corruptions import CORRUPTIONS

        unknown = [name for name in self.corruptions if name not in CORRUPTIONS.names()]
        if unknown:
            raise EdgepruneError(f"--corrupt: unknown corruption {unknown[0]!r} (known: "
                                 f"{', '.join(CORRUPTIONS.names())})")
        if not 0 < self.share <= 1:
            raise EdgepruneError(f"--corrupt-share must be in (0, 1], got {self.share}")

    def apply(self, images: torch.Tensor, seed: int, epoch: int, step: int) -> torch.Tensor:
        """A corrupted copy of a uint8 RGB batch (B, 3, H, W); `images` is left as it is."""
        from edgeprune.data.corruptions import apply_corruption

        rng = np.random.default_rng([seed, epoch, step, 7919])
        out = images.clone()
        for index in range(len(images)):
            if rng.random() >= self.share:
                continue
            name = self.corruptions[int(rng.integers(len(self.corruptions)))]
            severity = self.severities[int(rng.integers(len(self.severities)))]
            bgr = np.ascontiguousarray(images[index].permute(1, 2, 0).numpy()[..., ::-1])
            corrupted = apply_corruption(name, bgr, severity, rng)
            out[index] = torch.from_numpy(np.ascontiguousarray(
                corrupted[..., ::-1].transpose(2, 0, 1)))
        return out
