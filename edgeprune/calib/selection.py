"""Which images calibrate INT8: a class-balanced, representative subset of a dataset split.

Entropy calibration sets each activation's int8 range from the histograms the calibration
images produce, so a class the set never shows gets ranges fitted to the others and loses the
most accuracy. The set is therefore built in two steps, both seeded:

1. greedy cover: until every class appears in its quota of images (or in every image that has
   it, when it is rarer than that), take the image that covers the most still-needed classes,
   rare classes weighing more; ties go to a seeded random order;
2. random fill: the rest of the set is drawn uniformly from the remaining images, background
   images included, so the set keeps the dataset's overall look (scene, lighting, box sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprune.data.dataset import Sample

# Share of the set reserved for the class cover: each class is wanted in at least
# COVER_SHARE x count / num_classes images, and the fill keeps the rest representative.
COVER_SHARE = 0.5


@dataclass(frozen=True)
class Selection:
    indices: list[int]  # into the samples given, in the order chosen
    cover_count: int  # how many of them the greedy cover took
    images_per_class: list[int]  # images of the set that show each class
    quota: int  # images per class the cover aimed for


def class_presence(samples: list[Sample], num_classes: int) -> np.ndarray:
    """(N, C) bool: whether image i shows class c."""
    presence = np.zeros((len(samples), num_classes), dtype=bool)
    for index, sample in enumerate(samples):
        ids = np.asarray(sample.class_ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < num_classes)]
        presence[index, ids] = True
    return presence


def select_calibration_images(samples: list[Sample], num_classes: int, count: int,
                              seed: int = 0) -> Selection:
    """`count` sample indices (all of them when fewer): greedy class cover, then random fill."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = np.random.default_rng(seed)
    total = len(samples)
    presence = class_presence(samples, num_classes)
    if count >= total:
        order = [int(i) for i in rng.permutation(total)]
        return Selection(order, 0, presence.sum(axis=0).astype(int).tolist(), 0)
    quota = max(1, int(COVER_SHARE * count / max(1, num_classes)))
    available = presence.sum(axis=0)
    need = np.minimum(quota, available).astype(np.int64)
    # Rare classes weigh more, so an image with the rarest class is taken before a busy
    # image of common classes.
    weight = 1.0 / np.maximum(available, 1)
    # A fixed random order breaks ties, so the same seed gives the same set.
    tie_order = rng.permutation(total)
    tie_break = np.empty(total)
    tie_break[tie_order] = np.linspace(0.0, 1e-6, total, endpoint=False)
    taken = np.zeros(total, dtype=bool)
    chosen: list[int] = []
    while len(chosen) < count and (need > 0).any():
        gains = presence.astype(np.float64) @ (weight * (need > 0)) + tie_break
        gains[taken] = -1.0
        best = int(np.argmax(gains))
        if gains[best] < 1e-9:  # no untaken image shows a needed class
            break
        taken[best] = True
        chosen.append(best)
        need -= presence[best]
    cover_count = len(chosen)
    rest = np.flatnonzero(~taken)
    fill = rng.choice(rest, size=min(count - cover_count, len(rest)), replace=False)
    chosen.extend(int(i) for i in fill)
    per_class = presence[chosen].sum(axis=0).astype(int).tolist()
    return Selection(chosen, cover_count, per_class, quota)
