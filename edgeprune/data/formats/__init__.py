"""Dataset formats: small readers behind a registry, chosen by name or detected from the data.

Each reader turns one split into `Sample`s with boxes in absolute pixels and collects problems
as `DataProblem`s. Adding a format is one class with `@register_format`.
"""

from __future__ import annotations

from edgeprune.data.config import DatasetConfig
from edgeprune.data.dataset import DataError
from edgeprune.data.formats import abcp, coco, voc, yolo  # noqa: F401  (registers the readers)
from edgeprune.data.formats.base import FORMATS, DatasetFormat, get_format, register_format
from edgeprune.data.formats.yolo import choose_label_rule

# Formats a source's own content identifies, most specific first: a list file with boxes on its
# lines is ABCP before it is a list of images. Any other source is images with one label file
# each, read by the rule (yolo or darknet) under which those files exist.
DETECTION_ORDER = ("coco", "voc", "abcp")


def detect_format(config: DatasetConfig, split: str) -> DatasetFormat:
    """The reader named by `format`, else the first whose `claims` fits the split's sources,
    else the label rule whose label files exist."""
    if config.format:
        return get_format(config.format)
    sources = config.split_sources(split)
    for source in sources:
        if not source.exists():
            raise DataError(f"{config.source}: {split} source {source} not found")
    for name in DETECTION_ORDER:
        if all(FORMATS.get(name).claims(config, source) for source in sources):
            return get_format(name)
    return get_format(choose_label_rule(config, split, sources))


__all__ = ["DETECTION_ORDER", "FORMATS", "DatasetFormat", "detect_format", "get_format",
           "register_format"]
