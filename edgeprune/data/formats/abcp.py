"""The ABCP search format: `image x1,y1,x2,y2,class x1,y1,x2,y2,class ...`, absolute pixels.

One image a line, its boxes as comma-separated groups after it (the layout of ABCP's
search_train.txt / search_val.txt). A line with no groups is a background image.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from edgeprune.data.config import DatasetConfig
from edgeprune.data.dataset import DataProblem, Sample
from edgeprune.data.formats.base import (
    BoxCollector,
    DatasetFormat,
    Entry,
    list_lines,
    parse_class_id,
    parse_floats,
    register_format,
    require_source,
    resolve_listed,
    sample_size,
)
from edgeprune.data.images import is_image_path

_GROUP = re.compile(r"^[^,\s]+(,[^,\s]+){4}$")


@register_format
class AbcpFormat(DatasetFormat):
    name: ClassVar[str] = "abcp"

    def load(self, config: DatasetConfig, split: str,
             names: list[str]) -> tuple[list[Sample], list[DataProblem]]:
        samples: list[Sample] = []
        problems: list[DataProblem] = []
        for source in config.split_sources(split):
            require_source(config, split, source)
            for number, line in list_lines(source):
                image_text, *groups = line.split()
                entry = Entry(image_text, resolve_listed(config, image_text, source), source,
                              number)
                size = sample_size(entry, problems)
                if size is None:
                    continue
                boxes = BoxCollector(str(source), size[0], size[1], problems)
                for group in groups:
                    _add_group(group, boxes, number, len(names))
                sample = boxes.sample(entry.path)
                sample.label_path = source
                samples.append(sample)
        return samples, problems

    @classmethod
    def claims(cls, config: DatasetConfig, source: Path) -> bool:
        if not source.is_file() or is_image_path(source):
            return False
        for _, line in list_lines(source):
            fields = line.split()
            return len(fields) > 1 and all(_GROUP.match(group) for group in fields[1:])
        return False


def _add_group(group: str, boxes: BoxCollector, line: int, num_classes: int) -> None:
    fields = group.split(",")
    if len(fields) != 5:
        boxes.problem("wrong_column_count", line, f"box {group!r} has {len(fields)} values, "
                      f"expected x1,y1,x2,y2,class")
        return
    values = parse_floats(fields[:4])
    if values is None:
        boxes.problem("bad_number", line, f"non-numeric coordinate in box {group!r}")
        return
    class_id, kind = parse_class_id(fields[4], num_classes)
    if class_id is None:
        message = (f"class {fields[4]} is not an integer" if kind == "bad_number" else
                   f"class {fields[4]} out of range 0..{num_classes - 1}")
        boxes.problem(kind, line, f"box {group!r}: {message}")
        return
    boxes.add(*values, class_id, line)
