"""The one sample structure every dataset format loads into.

Formats (YOLO folders, Darknet lists, ABCP search files, Pascal-VOC XML, COCO json) are readers
behind a registry; training, evaluation, calibration and `data check` see only these classes.
Problems found while loading (missing images, bad label lines) are collected as `DataProblem`s
with file and line, not raised, so one bad file does not stop a dataset of thousands; the
caller decides what is fatal (`require_usable`; a verb's `--bad-data`, `bad_data.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError


class DataError(EdgepruneError):
    """A dataset that cannot be used at all (no config, nothing usable left, ...)."""


# Kinds that leave the data used as written: a box clipped to its image (as training would clip
# it), the same image or box twice, an image in two splits. Worth a look, so they are listed, but
# no reason to stop a run and no failing `data check`. Every other kind leaves an image, a label
# line or a box out of what is trained and scored.
WARNING_KINDS = frozenset({"box_outside_image", "duplicate_image", "duplicate_box",
                           "split_overlap"})


@dataclass(frozen=True)
class DataProblem:
    """One thing wrong with the data: `kind` is a stable identifier tests and tools can count."""

    kind: str  # e.g. missing_image, unreadable_image, class_out_of_range, box_outside_image,
    #            zero_area_box, wrong_column_count, duplicate_image, unknown_class
    path: str
    line: int | None
    message: str

    @property
    def is_warning(self) -> bool:
        return self.kind in WARNING_KINDS

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class Sample:
    """One image and its boxes, in absolute pixels of the original image."""

    image_path: Path
    boxes: np.ndarray  # (K, 4) float32 x1, y1, x2, y2
    class_ids: np.ndarray  # (K,) int64, indices into the dataset's names
    ignore_boxes: np.ndarray = field(  # (M, 4) regions where detections are neither TP nor FP
        default_factory=lambda: np.zeros((0, 4), np.float32))
    width: int | None = None  # original size (load_dataset always sets it: from the format or
    height: int | None = None  # the image header)
    label_path: Path | None = None  # the label file the boxes came from, for messages


@dataclass
class DetectionDataset:
    """Samples of one split, with class names and the problems found loading them."""

    names: list[str]
    samples: list[Sample]
    split: str = "val"
    source: str = ""
    problems: list[DataProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def require_usable(self, need_boxes: bool = True) -> DetectionDataset:
        """Raise a DataError naming the problems when no sample is left or, with `need_boxes`
        (training and evaluation: nothing to learn, mAP undefined), when none has a box."""
        if not self.samples:
            raise DataError(f"{self.source}: no usable images in split {self.split!r}"
                            + self._first_problems())
        if need_boxes and not any(len(sample.boxes) for sample in self.samples):
            raise DataError(f"{self.source}: no labelled box in split {self.split!r} "
                            f"({len(self)} images, none with a box)" + self._first_problems())
        return self

    def _first_problems(self) -> str:
        return f": {first_named([str(p) for p in self.problems])}" if self.problems else ""


def first_named(texts: list[str], shown: int = 3) -> str:
    """The first `shown` texts and how many more: what one line of an error or a report names."""
    more = len(texts) - shown
    return "; ".join(texts[:shown]) + (f" (and {more} more)" if more > 0 else "")
