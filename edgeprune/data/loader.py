"""`load_dataset` and `dataset_names`: the entry points training, evaluation and tools call."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from edgeprune.data.config import SPLITS, DatasetConfig, read_config
from edgeprune.data.dataset import DataError, DetectionDataset
from edgeprune.data.formats import DatasetFormat, detect_format


def load_dataset(data: str | Path | Mapping | DatasetConfig,
                 split: str = "val") -> DetectionDataset:
    """One split of a dataset, boxes in absolute pixels (x1, y1, x2, y2) of the original image.

    `data` is a dataset YAML (or a folder holding data.yaml), the same keys as a dict, or a
    Darknet .data file. Missing images, bad label lines and unknown classes are collected in
    `dataset.problems`, not raised; call `dataset.require_usable()` where an empty split is
    fatal. Only image headers are read (for sizes), never whole images.
    """
    config = data if isinstance(data, DatasetConfig) else read_config(data)
    reader = _reader(config, split)
    names = reader.names(config)
    samples, problems = reader.load(config, split, names)
    return DetectionDataset(names=names, samples=samples, split=split, source=config.source,
                            problems=problems)


def dataset_names(data: str | Path | Mapping | DatasetConfig) -> list[str]:
    """Class names of a dataset without loading its samples."""
    config = data if isinstance(data, DatasetConfig) else read_config(data)
    if config.names:
        return list(config.names)
    defined = [split for split in SPLITS if config.splits.get(split)]
    if not defined:
        raise DataError(f"{config.source}: no `names` and no split to read them from")
    return _reader(config, defined[0]).names(config)


def _reader(config: DatasetConfig, split: str) -> DatasetFormat:
    reader = detect_format(config, split)
    if config.class_map is not None and not reader.uses_class_map:
        raise DataError(f"{config.source}: `class_map` applies to named labels (voc, coco), "
                        f"not to the {reader.name} format")
    return reader
