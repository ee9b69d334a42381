"""Samples to tensors: the training Dataset/DataLoader and unlabelled letterboxed batches.

Also reachable as `edgeprune.data.loader.image_batches` (and TrainingSet, make_train_loader),
the names other modules call. Images are read BGR and handed on as RGB, CHW, as the Detector
does; training samples stay uint8 until they reach the training device (four times less to
copy between worker processes). Every random draw is keyed by (seed, epoch, index), so data
loading with any number of workers gives the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from edgeprune.data.dataset import DetectionDataset
from edgeprune.data.images import read_image
from edgeprune.data.letterbox import boxes_to_letterbox, letterbox

if TYPE_CHECKING:  # edgeprune.train imports this module; the augmentation is imported on use
    from edgeprune.data.augment import AugmentConfig


def to_chw_rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]],
                          axis=1)


class TrainingSet(torch.utils.data.Dataset):
    """Samples of a DetectionDataset as (image uint8 (3, H, W) RGB, targets (K, 5), index).

    Targets are class, cx, cy, w, h in input pixels. With `augment` None the image is only
    letterboxed (validation-style); otherwise `augment_sample` draws from a generator seeded by
    (seed, epoch, index): call `set_epoch` before each epoch's DataLoader iteration.
    """

    def __init__(self, dataset: DetectionDataset, imgsz: tuple[int, int],
                 augment: AugmentConfig | None = None, seed: int = 0) -> None:
        self.dataset = dataset
        self.imgsz = imgsz
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        sample = self.dataset.samples[index]
        image = read_image(sample.image_path)
        class_ids = np.asarray(sample.class_ids, dtype=np.int64)
        if self.augment is None:
            image, scale, pad = letterbox(image, self.imgsz)
            boxes = boxes_to_letterbox(sample.boxes, scale, pad)
        else:
            from edgeprune.data.augment import augment_sample

            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, boxes, class_ids = augment_sample(image, sample.boxes, class_ids,
                                                     self.imgsz, rng, self.augment)
        targets = np.concatenate([class_ids.reshape(-1, 1).astype(np.float32),
                                  xyxy_to_cxcywh(boxes)], axis=1)
        return torch.from_numpy(to_chw_rgb(image)), torch.from_numpy(targets), index


def collate_samples(batch) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Stack images; targets become (M, 6): image index in the batch, class, cx, cy, w, h."""
    images, targets, indices = zip(*batch, strict=True)
    rows = [torch.cat([torch.full((len(t), 1), float(i)), t], dim=1)
            for i, t in enumerate(targets)]
    return torch.stack(images), torch.cat(rows) if rows else torch.zeros(0, 6), list(indices)


def make_train_loader(training_set: TrainingSet, batch_size: int, workers: int = 0,
                      shuffle: bool = True, seed: int = 0,
                      sampler: torch.utils.data.Sampler | None = None
                      ) -> torch.utils.data.DataLoader:
    """A DataLoader over `training_set`; reseed its order per epoch with `loader.generator`
    (or, with a `sampler` such as DistributedSampler, the sampler's own `set_epoch`)."""
    return torch.utils.data.DataLoader(
        training_set, batch_size=batch_size, shuffle=shuffle and sampler is None,
        sampler=sampler, num_workers=workers,
        collate_fn=collate_samples, pin_memory=torch.cuda.is_available(),
        generator=torch.Generator().manual_seed(seed), drop_last=False,
        persistent_workers=False)


def image_batches(data: str | Path | DetectionDataset, imgsz, batch_size: int,
                  num_batches: int, split: str = "train", seed: int = 0
                  ) -> Iterator[torch.Tensor]:
    """`num_batches` letterboxed (B, 3, H, W) float32 RGB [0, 1] batches, no labels.

    For BN recalibration and INT8 calibration. `data` is a dataset YAML (or a loaded
    DetectionDataset); images are drawn in a seeded random order, cycling through the split
    again when it has fewer than batch_size x num_batches images. Same seed, same batches.
    """
    from edgeprune.models.loading import parse_imgsz

    size = parse_imgsz(imgsz)
    if isinstance(data, DetectionDataset):
        dataset = data.require_usable()
    else:
        from edgeprune.data.loader import load_dataset

        dataset = load_dataset(data, split).require_usable()
    rng = np.random.default_rng(seed)
    order: list[int] = []
    for _ in range(num_batches):
        batch = np.empty((batch_size, 3, *size), dtype=np.float32)
        for slot in range(batch_size):
            if not order:
                order = rng.permutation(len(dataset.samples)).tolist()
            image = read_image(dataset.samples[order.pop()].image_path)
            boxed, _, _ = letterbox(image, size)
            batch[slot] = to_chw_rgb(boxed)
        yield torch.from_numpy(batch / np.float32(255.0))
