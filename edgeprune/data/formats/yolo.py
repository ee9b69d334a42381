"""YOLO folders and Darknet list files: one `class cx cy w h` label file per image.

Coordinates are relative to the image size (0..1). The label file is found from the image path:
ultralytics replaces the last `images` folder with `labels`; Darknet also maps `JPEGImages` to
`labels`. Both change the extension to `.txt`; with no such folder the label sits beside the
image. An image without a label file is a background image (no objects), as in both tools.

The two rules differ only for images under a `JPEGImages` folder (labels/ or beside), so only
the files on disk can tell which one a dataset follows: detection takes the rule whose label
files exist (`choose_label_rule`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from edgeprune.data.config import DatasetConfig
from edgeprune.data.dataset import DataError, DataProblem, Sample
from edgeprune.data.formats.base import (
    BoxCollector,
    DatasetFormat,
    Entry,
    image_entries,
    list_lines,
    parse_class_id,
    parse_floats,
    register_format,
    require_source,
    sample_size,
)
from edgeprune.data.images import is_image_path


@register_format
class YoloFormat(DatasetFormat):
    """YOLO folders (images/ -> labels/) or list files of image paths."""

    name: ClassVar[str] = "yolo"
    image_folders: ClassVar[tuple[str, ...]] = ("images",)

    def label_path(self, image: Path) -> Path:
        parts = list(image.parts)
        for index in range(len(parts) - 2, -1, -1):
            if parts[index] in self.image_folders:
                parts[index] = "labels"
                break
        return Path(*parts).with_suffix(".txt")

    def load(self, config: DatasetConfig, split: str,
             names: list[str]) -> tuple[list[Sample], list[DataProblem]]:
        samples: list[Sample] = []
        problems: list[DataProblem] = []
        for source in config.split_sources(split):
            require_source(config, split, source)
            first = len(samples)
            for entry in image_entries(config, source):
                sample = self._read_sample(entry, len(names), problems)
                if sample is not None:
                    samples.append(sample)
            found = samples[first:]
            if found and all(sample.label_path is None for sample in found):
                # every image a background image: far more likely labels in the wrong place
                problems.append(DataProblem(
                    "no_label_files", str(source), None,
                    f"none of its {len(found)} images has a label file (looked for "
                    f"{self.label_path(found[0].image_path)}, the {self.name} rule)"))
        return samples, problems

    def _read_sample(self, entry: Entry, num_classes: int,
                     problems: list[DataProblem]) -> Sample | None:
        size = sample_size(entry, problems)
        if size is None:
            return None
        width, height = size
        label = self.label_path(entry.path)
        boxes = BoxCollector(str(label), width, height, problems)
        if not label.is_file():
            return boxes.sample(entry.path)  # no label file: a background image
        try:
            read_label_file(label, boxes, num_classes)
        except DataError as exc:
            problems.append(DataProblem("bad_label_file", str(label), None, str(exc)))
            return None
        sample = boxes.sample(entry.path)
        sample.label_path = label
        return sample


@register_format
class DarknetFormat(YoloFormat):
    """Darknet list files (train.txt / val.txt) or folders; JPEGImages/ or images/ -> labels/."""

    name: ClassVar[str] = "darknet"
    image_folders: ClassVar[tuple[str, ...]] = ("images", "JPEGImages")


def choose_label_rule(config: DatasetConfig, split: str, sources: list[Path]) -> str:
    """`yolo` or `darknet`: the rule under which the split's label files exist.

    Where both rules name the same file (no JPEGImages folder), list files read as darknet and
    folders as yolo, their usual homes. Label files under both rules, or under neither, are an
    error naming the files looked for: reading them by a guess would train or score on images
    without their boxes.
    """
    rules = (DarknetFormat(), YoloFormat())
    only_under: dict[str, Path] = {}  # rule -> a label file only that rule finds
    first: tuple[Path, Path] | None = None  # (darknet, yolo) label paths of the first image
    images = 0
    shared = False  # a label file both rules name
    for source in sources:
        for entry in image_entries(config, source):
            if not entry.path.is_file():  # a missing image tells nothing; the reader reports it
                continue
            darknet, yolo = (rule.label_path(entry.path) for rule in rules)
            images += 1
            first = first or (darknet, yolo)
            if darknet == yolo:
                shared = shared or darknet.is_file()
                continue
            for rule, label in zip(rules, (darknet, yolo), strict=True):
                if rule.name not in only_under and label.is_file():
                    only_under[rule.name] = label
            if len(only_under) == len(rules):
                raise DataError(
                    f"{config.source}: the {split} images have label files under two rules: "
                    f"{only_under['darknet']} (darknet) and {only_under['yolo']} (yolo); "
                    f"set `format: yolo` or `format: darknet`")
    if only_under:
        return next(iter(only_under))
    if shared or not images:  # no images: the reader reports what is missing
        lists = all(source.is_file() and not is_image_path(source) for source in sources)
        return "darknet" if lists else "yolo"
    darknet, yolo = first
    looked = (f"{darknet} (yolo and darknet)" if darknet == yolo else
              f"{darknet} (darknet) and {yolo} (yolo)")
    named = ", ".join(map(str, sources))
    raise DataError(f"{config.source}: {split} source{'s' if len(sources) > 1 else ''} {named}: "
                    f"none of {'their' if len(sources) > 1 else 'its'} {images} images has a "
                    f"label file (looked for {looked}, for the first); put the labels there or "
                    f"set `format:` to the layout they follow (yolo, darknet)")


def read_label_file(label: Path, boxes: BoxCollector, num_classes: int) -> None:
    """Parse `class cx cy w h` lines (a polygon `class x1 y1 x2 y2 ...` gives its bounding box)."""
    for number, line in list_lines(label):
        fields = line.split()
        polygon = len(fields) >= 7 and len(fields) % 2 == 1
        if len(fields) != 5 and not polygon:
            boxes.problem("wrong_column_count", number, f"expected 5 columns (class cx cy w h), "
                          f"got {len(fields)}: {line!r}")
            continue
        class_id, kind = parse_class_id(fields[0], num_classes)
        if class_id is None:
            message = (f"class {fields[0]} is not an integer" if kind == "bad_number" else
                       f"class {fields[0]} out of range 0..{num_classes - 1}")
            boxes.problem(kind, number, message)
            continue
        values = parse_floats(fields[1:])
        if values is None:
            boxes.problem("bad_number", number, f"non-numeric coordinate in {line!r}")
            continue
        if polygon:
            xs, ys = values[0::2], values[1::2]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        else:
            cx, cy, w, h = values
            if w <= 0 or h <= 0:
                boxes.problem("zero_area_box", number, f"box size {w:g}x{h:g} has no area")
                continue
            x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        boxes.add(x1 * boxes.width, y1 * boxes.height, x2 * boxes.width, y2 * boxes.height,
                  class_id, number)
