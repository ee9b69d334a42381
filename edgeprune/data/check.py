"""`data check`: what a dataset holds and everything wrong with it, split by split.

Loading (any format) already reports missing images and bad label lines with file and line.
The check adds what needs the image bytes: images that do not decode, sizes that disagree with
the labels, the same image listed twice or under two names, images shared between splits
(train/val leakage), and boxes repeated within one image.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprune.data.config import SPLITS, DatasetConfig, read_config
from edgeprune.data.dataset import DataError, DataProblem, Sample
from edgeprune.data.formats import detect_format
from edgeprune.data.images import decode_image, image_size
from edgeprune.data.loader import load_dataset

# Problems that cost the image (the others cost a box or are warnings).
DROPPING_KINDS = frozenset({"missing_image", "unreadable_image", "missing_label",
                            "bad_label_file"})


@dataclass
class SplitCheck:
    split: str
    format: str | None = None
    listed: int = 0  # images the split names
    usable: int = 0  # readable images with labels
    missing: int = 0
    unreadable: int = 0
    background: int = 0  # usable images without boxes
    boxes: dict[str, int] = field(default_factory=dict)
    ignore_boxes: int = 0
    problems: list[DataProblem] = field(default_factory=list)
    error: str | None = None  # the split could not be read at all

    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(problem.kind for problem in self.problems).most_common())

    def unusable_reason(self) -> str | None:
        """Why nothing can be trained or scored on this split (None: it can)."""
        if self.error is not None:
            return f"cannot be read: {self.error}"
        if self.usable == 0:
            return "no usable images"
        if not sum(self.boxes.values()):
            return (f"no labelled box ({self.usable} usable image{'s' if self.usable > 1 else ''}"
                    f", none with a box)")
        return None

    def to_json(self) -> dict:
        return {"split": self.split, "format": self.format, "listed": self.listed,
                "usable": self.usable, "missing": self.missing, "unreadable": self.unreadable,
                "background": self.background, "boxes": self.boxes,
                "ignore_boxes": self.ignore_boxes, "error": self.error,
                "unusable_reason": self.unusable_reason(),
                "problem_counts": self.problem_counts(),
                "problems": [{"kind": p.kind, "path": p.path, "line": p.line,
                              "message": p.message, "warning": p.is_warning}
                             for p in self.problems]}


@dataclass
class CheckReport:
    source: str
    names: list[str]
    splits: list[SplitCheck]

    @property
    def usable(self) -> bool:
        """Every checked split has a usable image with a labelled box."""
        return bool(self.splits) and all(s.unusable_reason() is None for s in self.splits)

    @property
    def problem_count(self) -> int:
        """Problems that leave an image, a label line or a box out (warnings aside)."""
        return sum(not p.is_warning for s in self.splits for p in s.problems)

    @property
    def warning_count(self) -> int:
        return sum(p.is_warning for s in self.splits for p in s.problems)

    def to_json(self) -> dict:
        return {"data": self.source, "names": self.names, "usable": self.usable,
                "problems": self.problem_count, "warnings": self.warning_count,
                "splits": {s.split: s.to_json() for s in self.splits}}


def check_dataset(data: str | Path | Mapping | DatasetConfig,
                  splits: Sequence[str] | None = None, decode: bool = True, workers: int = 2,
                  progress: Callable[[str, int, int], None] | None = None) -> CheckReport:
    """Check `splits` (default: every split the description defines).

    With `decode=False` only image headers are read: faster, but corrupt image data past the
    header goes unnoticed. `progress(split, done, total)` follows the image reads.
    """
    config = data if isinstance(data, DatasetConfig) else read_config(data)
    wanted = list(splits) if splits else [s for s in SPLITS if config.splits.get(s)]
    if not wanted:
        raise DataError(f"{config.source}: defines no split (train, val or test)")
    names: list[str] = list(config.names or [])
    checks = []
    seen: dict[str, tuple[str, Path]] = {}  # content digest -> (split, first image)
    for split in wanted:
        check = SplitCheck(split)
        checks.append(check)
        try:
            check.format = detect_format(config, split).name
            dataset = load_dataset(config, split)
        except DataError as exc:
            check.error = str(exc)
            continue
        names = dataset.names
        check.problems = list(dataset.problems)
        dropped = Counter(p.kind for p in dataset.problems if p.kind in DROPPING_KINDS)
        check.listed = len(dataset.samples) + sum(dropped.values())
        check.missing = dropped["missing_image"]
        check.unreadable = dropped["unreadable_image"]
        usable = _inspect_images(check, dataset.samples, decode, workers, seen, progress)
        check.usable = len(usable)
        check.background = sum(1 for sample in usable if len(sample.boxes) == 0)
        counts = np.bincount(np.concatenate([s.class_ids for s in usable] or [[]]).astype(int),
                             minlength=len(names))
        check.boxes = dict(zip(names, counts.tolist(), strict=True))
        check.ignore_boxes = sum(len(sample.ignore_boxes) for sample in usable)
        for sample in usable:
            _repeated_boxes(sample, check.problems)
    return CheckReport(config.source, names, checks)


def _read(sample: Sample, decode: bool):
    """(size, content digest, error) of one image."""
    try:
        data = sample.image_path.read_bytes()
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        if decode:
            height, width = decode_image(data, sample.image_path).shape[:2]
        else:
            width, height = image_size(sample.image_path)
    except OSError as exc:
        return None, None, f"{sample.image_path}: cannot read ({exc.strerror or exc})"
    except DataError as exc:
        return None, None, str(exc)
    return (width, height), digest, None


def _inspect_images(check: SplitCheck, samples: list[Sample], decode: bool, workers: int,
                    seen: dict, progress) -> list[Sample]:
    usable = []
    listed_at: dict[Path, int] = Counter()
    in_split: dict[str, Path] = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:  # decoding releases the GIL
        for done, (sample, (size, digest, error)) in enumerate(
                zip(samples, pool.map(lambda s: _read(s, decode), samples), strict=True), 1):
            if progress:
                progress(check.split, done, len(samples))
            path = str(sample.image_path)
            if error:
                check.unreadable += 1
                check.problems.append(DataProblem("unreadable_image", path, None,
                                                  error.removeprefix(f"{path}: ")))
                continue
            usable.append(sample)
            expected = (sample.width, sample.height)
            if sample.width and size != expected:
                where = str(sample.label_path or path)
                check.problems.append(DataProblem(
                    "size_mismatch", where, None, f"labels are for {expected[0]}x{expected[1]} "
                    f"but {path} is {size[0]}x{size[1]}"))
            listed_at[sample.image_path] += 1
            if listed_at[sample.image_path] > 1:
                check.problems.append(DataProblem("duplicate_image", path, None,
                                                  f"listed {listed_at[sample.image_path]} "
                                                  f"times in split {check.split}"))
            elif digest in in_split:
                check.problems.append(DataProblem("duplicate_image", path, None,
                                                  f"same content as {in_split[digest]}"))
            in_split.setdefault(digest, sample.image_path)
            if digest in seen and seen[digest][0] != check.split:
                other_split, other = seen[digest]
                check.problems.append(DataProblem("split_overlap", path, None,
                                                  f"also in split {other_split} ({other})"))
            seen.setdefault(digest, (check.split, sample.image_path))
    return usable


def _repeated_boxes(sample: Sample, problems: list[DataProblem]) -> None:
    rows = np.concatenate([np.round(sample.boxes, 2), sample.class_ids[:, None]], 1)
    if len(rows) < 2:
        return
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    where = str(sample.label_path or sample.image_path)
    for row, count in zip(unique[counts > 1], counts[counts > 1], strict=True):
        x1, y1, x2, y2, class_id = row.tolist()
        problems.append(DataProblem("duplicate_box", where, None,
                                    f"box {x1:g},{y1:g},{x2:g},{y2:g} of class {int(class_id)} "
                                    f"appears {count} times for {sample.image_path.name}"))
