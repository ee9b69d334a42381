"""A robust accuracy for the search: the candidate's mAP@0.5 on a fixed corrupted subset of
val and on a labelled target-domain subset (the robot's real camera), beside the clean one.

No pruning tool puts robustness in its objective; AdaSAP (ICLR 2024) shows what doing so gives
(+4% mAP on corrupted Pascal VOC detection), and compressed detectors are known to lose most
under noise, pruning hurting noisy and rare images disproportionately (Hooker et al.). So with
`--robust-corruptions` and/or `--robust-real` the accuracy a candidate is rewarded for is

    (1 - weight) x clean mAP@0.5 + weight x mean(corrupted mAP@0.5, real mAP@0.5)

over the parts given. The corrupted subset is drawn once per search from its seed: `images`
val images, each under one corruption and severity of those allowed (the sim-to-real suite's
corruptions, edgeprune/data/corruptions.py), corrupted once and kept in memory, so every
candidate is scored on the very same images. Every record carries the parts.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np

from edgeprune.data.dataset import DataError, DetectionDataset
from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class RobustSettings:
    corruptions: tuple[str, ...] = ()  # what the reward may use (held-out ones never appear)
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    images: int = 50  # corrupted val images scored per candidate
    real: str | None = None  # a dataset YAML of the target domain (its val split)
    real_images: int | None = None  # a fixed subset of it; None: all
    weight: float = 0.5  # of the robust part in the rewarded accuracy

    def __post_init__(self) -> None:
        from edgeprune.data.corruptions import CORRUPTIONS

        if not self.corruptions and not self.real:
            raise EdgepruneError("a robust accuracy needs --robust-corruptions, --robust-real "
                                 "or both")
        for name in self.corruptions:
            if name not in CORRUPTIONS.names():
                raise EdgepruneError(f"--robust-corruptions: unknown corruption {name!r} "
                                     f"(known: {', '.join(CORRUPTIONS.names())})")
        if not self.severities or any(not 1 <= s <= 5 for s in self.severities):
            raise EdgepruneError(f"--robust-severities must be within 1..5, got "
                                 f"{list(self.severities)}")
        if self.images < 1 or (self.real_images is not None and self.real_images < 1):
            raise EdgepruneError("--robust-images and --robust-real-images must be at least 1")
        if not 0 <= self.weight <= 1:
            raise EdgepruneError(f"--robust-weight must be in [0, 1], got {self.weight}")

    def to_dict(self) -> dict:
        return {**asdict(self), "corruptions": list(self.corruptions),
                "severities": list(self.severities)}

    @classmethod
    def from_dict(cls, data: dict | None) -> RobustSettings | None:
        if not data:
            return None
        return cls(**{**data, "corruptions": tuple(data.get("corruptions") or ()),
                      "severities": tuple(data.get("severities") or (1, 2, 3, 4, 5))})

    def combine(self, parts: dict[str, float]) -> float:
        """The rewarded accuracy from {"clean": ..., "corrupted": ..., "real": ...}."""
        robust = [parts[name] for name in ("corrupted", "real") if name in parts]
        return (1 - self.weight) * parts["clean"] + self.weight * float(np.mean(robust))


class RobustScorer:
    """The fixed corrupted subset (and the real one) a search scores every candidate on."""

    def __init__(self, settings: RobustSettings, val_data: DetectionDataset, seed: int) -> None:
        from edgeprune.data.corruptions import apply_corruption
        from edgeprune.data.images import read_image
        from edgeprune.eval.evaluate import Evaluator, subset
        from edgeprune.eval.sim2real.suite import corruption_rng

        self.settings = settings
        self.parts: dict[str, Evaluator] = {}  # name -> its images, in memory
        if settings.corruptions:
            chosen = subset(val_data, settings.images, seed)
            draw = random.Random(f"robust:{seed}")
            # the corrupted images and their (corruption, severity), in the subset's order
            self.corrupted: list[np.ndarray] = []
            self.conditions: list[tuple[str, int]] = []
            for index, sample in enumerate(chosen.samples):
                name = draw.choice(settings.corruptions)
                severity = draw.choice(settings.severities)
                self.conditions.append((name, severity))
                image = read_image(sample.image_path)
                self.corrupted.append(apply_corruption(name, image, severity,
                                                      corruption_rng(seed, index, name, severity)))
            self.parts["corrupted"] = Evaluator(chosen, images=self.corrupted)
        if settings.real:
            from edgeprune.data import load_dataset

            try:
                real = load_dataset(settings.real, "val").require_usable()
            except DataError as exc:
                raise EdgepruneError(f"--robust-real: {exc}") from None
            if settings.real_images:
                real = subset(real, settings.real_images, seed)
            if real.names != val_data.names:
                raise EdgepruneError(f"--robust-real {settings.real}: its classes "
                                     f"{real.names} are not the search data's "
                                     f"{val_data.names}")
            self.parts["real"] = Evaluator(real, cache_images=True)

    def scores(self, detector) -> dict[str, float]:
        """mAP@0.5 of `detector` on each robust part, at the thresholds mAP is taken at."""
        return {name: float(evaluator(detector).map50)
                for name, evaluator in self.parts.items()}
