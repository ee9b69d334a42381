"""What every dataset format shares: the reader interface, its registry, entry listing, boxes."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from edgeprune.data.config import DatasetConfig
from edgeprune.data.dataset import DataError, DataProblem, Sample
from edgeprune.data.images import image_size, is_image_path
from edgeprune.registry import Registry

# Labels are often rounded to the pixel; only boxes further outside than this are reported.
OUTSIDE_TOLERANCE_PX = 1.0


class DatasetFormat:
    """Reads one split of a dataset into samples; problems are collected, not raised."""

    name: ClassVar[str]
    uses_class_map: ClassVar[bool] = False

    def names(self, config: DatasetConfig) -> list[str]:
        if not config.names:
            raise DataError(f"{config.source}: `names` is required for the {self.name} format "
                            f"(a list, an {{id: name}} mapping or a names file)")
        return config.names

    def load(self, config: DatasetConfig, split: str,
             names: list[str]) -> tuple[list[Sample], list[DataProblem]]:
        raise NotImplementedError

    @classmethod
    def claims(cls, config: DatasetConfig, source: Path) -> bool:
        """Whether a split source looks like this format (for auto-detection)."""
        return False


FORMATS: Registry[type[DatasetFormat]] = Registry("dataset format",
                                                  builtins="edgeprune.data.formats",
                                                  error=DataError)
register_format = FORMATS.register


def get_format(name: str) -> DatasetFormat:
    return FORMATS.create(name)


@dataclass(frozen=True)
class Entry:
    """One image (or annotation) named by a split source, and where it was named."""

    text: str  # as written (a list-file line, or the path found in a folder)
    path: Path  # remapped and resolved
    list_file: Path | None = None
    line: int | None = None

    def problem(self, kind: str, message: str) -> DataProblem:
        if self.list_file is not None:
            return DataProblem(kind, str(self.list_file), self.line, message)
        return DataProblem(kind, str(self.path), None, message)


def require_source(config: DatasetConfig, split: str, source: Path) -> None:
    if not source.exists():
        raise DataError(f"{config.source}: {split} source {source} not found")


def list_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-empty, non-comment lines of a list file with their 1-based numbers."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text list file (not UTF-8)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def folder_files(folder: Path, keep) -> list[Path]:
    """Files under `folder` (recursively, sorted) for which `keep(path)` holds."""
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(Path(parent) / name for name in sorted(files) if keep(name))
    return found


def image_entries(config: DatasetConfig, source: Path) -> Iterator[Entry]:
    """Images named by a source: a folder (recursive), one image file, or a list file."""
    if source.is_dir():
        for path in folder_files(source, is_image_path):
            yield Entry(str(path), path)
    elif is_image_path(source):
        yield Entry(str(source), source)
    else:
        for number, line in list_lines(source):
            yield Entry(line, resolve_listed(config, line, source), source, number)


def resolve_listed(config: DatasetConfig, text: str, list_file: Path) -> Path:
    """A path written in a list file. Relative lines are tried against the list's folder, then
    the dataset root (Darknet writes them relative to its working folder, usually the root)."""
    remapped = Path(config.remap(text)).expanduser()
    if remapped.is_absolute():
        return remapped
    beside = list_file.parent / remapped
    if beside.exists():
        return beside
    in_root = config.root / remapped
    return in_root if in_root.exists() else beside


def sample_size(entry: Entry, problems: list[DataProblem]) -> tuple[int, int] | None:
    """Image size from the header; a missing or unreadable image becomes a problem."""
    if not entry.path.is_file():
        remapped = "" if entry.text == str(entry.path) else f" (listed as {entry.text})"
        problems.append(entry.problem("missing_image", f"image {entry.path} not found{remapped}"))
        return None
    try:
        return image_size(entry.path)
    except DataError as exc:
        # a problem of a folder's image is filed under the image, so its name is said once
        message = str(exc) if entry.list_file else str(exc).removeprefix(f"{entry.path}: ")
        problems.append(entry.problem("unreadable_image", message))
        return None


@dataclass
class BoxCollector:
    """Boxes of one image as a reader parses them; `sample()` validates them against the image.

    Boxes outside the image are clipped to it and reported; boxes with no area (before or after
    clipping) are dropped and reported.
    """

    label_path: str
    width: int
    height: int
    problems: list[DataProblem]
    rows: list[tuple[float, float, float, float, int]] = field(default_factory=list)
    ignore: list[tuple[float, float, float, float]] = field(default_factory=list)

    def add(self, x1: float, y1: float, x2: float, y2: float, class_id: int,
            line: int | None, what: str = "box") -> None:
        box = self._checked(x1, y1, x2, y2, line, what)
        if box is not None:
            self.rows.append((*box, class_id))

    def add_ignore(self, x1: float, y1: float, x2: float, y2: float, line: int | None) -> None:
        box = self._checked(x1, y1, x2, y2, line, "ignore region")
        if box is not None:
            self.ignore.append(box)

    def problem(self, kind: str, line: int | None, message: str) -> None:
        self.problems.append(DataProblem(kind, self.label_path, line, message))

    def _checked(self, x1, y1, x2, y2, line, what):
        shown = f"{x1:g},{y1:g},{x2:g},{y2:g}"
        if not all(map(math.isfinite, (x1, y1, x2, y2))):
            self.problem("bad_number", line, f"{what} {shown} is not finite")
            return None
        if x2 <= x1 or y2 <= y1:
            self.problem("zero_area_box", line, f"{what} {shown} has no area")
            return None
        tol = OUTSIDE_TOLERANCE_PX
        if x1 < -tol or y1 < -tol or x2 > self.width + tol or y2 > self.height + tol:
            self.problem("box_outside_image", line, f"{what} {shown} lies outside the "
                         f"{self.width}x{self.height} image; clipped")
        x1, x2 = min(max(x1, 0.0), self.width), min(max(x2, 0.0), self.width)
        y1, y2 = min(max(y1, 0.0), self.height), min(max(y2, 0.0), self.height)
        if x2 - x1 < 1e-3 or y2 - y1 < 1e-3:
            self.problem("zero_area_box", line, f"{what} {shown} has no area inside the "
                         f"{self.width}x{self.height} image")
            return None
        return x1, y1, x2, y2

    def sample(self, image_path: Path) -> Sample:
        boxes = np.array([row[:4] for row in self.rows], np.float32).reshape(-1, 4)
        class_ids = np.array([row[4] for row in self.rows], np.int64)
        ignore = np.array(self.ignore, np.float32).reshape(-1, 4)
        return Sample(image_path, boxes, class_ids, ignore, self.width, self.height)


def parse_floats(fields: list[str]) -> list[float] | None:
    try:
        return [float(value) for value in fields]
    except ValueError:
        return None


def parse_class_id(text: str, num_classes: int) -> tuple[int | None, str | None]:
    """(class id, None) or (None, problem kind) for a class written as a number."""
    try:
        value = float(text)
    except ValueError:
        return None, "bad_number"
    if not value.is_integer():
        return None, "bad_number"
    class_id = int(value)
    if not 0 <= class_id < num_classes:
        return None, "class_out_of_range"
    return class_id, None
