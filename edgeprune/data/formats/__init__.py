"""Dataset formats: small readers behind a registry, chosen by name or detected from the data.

Each reader turns one split into `Sample`s with boxes in absolute pixels and collects problems
as `DataProblem`s. Adding a format is one class with `@register_format`.
"""

from __future__ import annotations

from edgeprune.data.config import DatasetConfig
from edgeprune.data.dataset import DataError
from edgeprune.data.formats import abcp, coco, voc, yolo  # noqa: F401  (registers the readers)
from edgeprune.data.formats.base import FORMATS, DatasetFormat, get_format, register_format

# Most specific first: a list file with boxes on its lines is ABCP before it is Darknet.
DETECTION_ORDER = ("coco", "voc", "abcp", "darknet", "yolo")


def detect_format(config: DatasetConfig, split: str) -> DatasetFormat:
    """The reader named by `format`, else the first whose `claims` fits the split's sources."""
    if config.format:
        return get_format(config.format)
    sources = config.split_sources(split)
    for source in sources:
        if not source.exists():
            raise DataError(f"{config.source}: {split} source {source} not found")
    for name in DETECTION_ORDER:
        if all(FORMATS.get(name).claims(config, source) for source in sources):
            return get_format(name)
    raise DataError(f"{config.source}: cannot tell the format of {split} sources "
                    f"{', '.join(map(str, sources))}; set `format:` "
                    f"({', '.join(FORMATS.names())})")


__all__ = ["DETECTION_ORDER", "FORMATS", "DatasetFormat", "detect_format", "get_format",
           "register_format"]
