"""What each model is shown: the clean sim and real splits and the corrupted sim split.

A `Condition` names one evaluation of a model: the sim split as rendered, the real split, or
the sim split through one camera corruption at one severity. The corrupted image for (image,
corruption, severity) comes from a generator seeded by (seed, image index, corruption,
severity) only, so every model, every batch order and every resumed run sees the same bytes.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeprune.data.corruptions import CorruptionError, apply_corruption, list_corruptions

MAX_SEVERITY = 5


@dataclass(frozen=True)
class Condition:
    """The sim or real split (`corruption` None), or the sim split through `corruption`."""

    domain: str  # "sim" or "real"
    corruption: str | None = None
    severity: int = 0

    @property
    def key(self) -> str:
        """Stable name used in results files: `sim`, `real` or `CORRUPTION/SEVERITY`."""
        return self.domain if self.corruption is None else f"{self.corruption}/{self.severity}"

    def describe(self) -> str:
        if self.corruption is None:
            return f"{self.domain} (clean)" if self.domain == "sim" else self.domain
        return f"{self.corruption} {self.severity}"


SIM = Condition("sim")
REAL = Condition("real")


def parse_corruptions(value: str | Sequence[str] | None) -> list[str]:
    """Corruption names from `all` (None), `none`, or a comma-separated list, in the order
    given; an unknown name is a `CorruptionError` listing the known ones."""
    known = list_corruptions()
    if value is None:
        return known
    names = [part.strip() for part in value.split(",")] if isinstance(value, str) \
        else [str(part).strip() for part in value]
    names = [name for name in names if name]
    if names == ["all"]:
        return known
    if names in ([], ["none"]):
        return []
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CorruptionError(f"unknown corruption{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(unknown)} (known: {', '.join(known)}; or all, none)")
    return list(dict.fromkeys(names))


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_severities(value: str | int | Sequence[int]) -> list[int]:
    """Sorted severities from `1-5`, `1,3,5`, `0-2,5` or integers; each must be in 0..5
    (0 is the clean image, a check that the pipeline adds nothing)."""
    if isinstance(value, str):
        severities: list[int] = []
        for part in value.split(","):
            match = _RANGE.match(part)
            if not match:
                raise CorruptionError(f"severities {value!r}: expected numbers and ranges "
                                      f"such as 1-5 or 1,3,5")
            low = int(match.group(1))
            high = int(match.group(2)) if match.group(2) is not None else low
            if high < low:
                raise CorruptionError(f"severities {value!r}: range {part.strip()} runs "
                                      f"backwards")
            severities.extend(range(low, high + 1))
    else:
        values = [value] if isinstance(value, (int, np.integer)) else list(value)
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
            raise CorruptionError(f"severities {value!r}: expected integers 0..{MAX_SEVERITY}")
        severities = [int(v) for v in values]
    outside = sorted({s for s in severities if not 0 <= s <= MAX_SEVERITY})
    if outside:
        raise CorruptionError(f"severity {', '.join(map(str, outside))} is out of range: "
                              f"severities go from 0 (clean) to {MAX_SEVERITY}")
    if not severities:
        raise CorruptionError("no severities given")
    return sorted(set(severities))


def suite_conditions(corruptions: Sequence[str], severities: Sequence[int]) -> list[Condition]:
    """The corrupted-sim conditions, corruption by corruption, mild to strong."""
    return [Condition("sim", name, severity) for name in corruptions for severity in severities]


def corruption_rng(seed: int, image_index: int, corruption: str,
                   severity: int) -> np.random.Generator:
    """The generator of one corrupted image; depends on nothing else (crc32 rather than
    Python's salted `hash`, so the name maps to the same number in every process)."""
    return np.random.default_rng([seed, image_index, zlib.crc32(corruption.encode()),
                                  severity])


def condition_image(image: np.ndarray, image_index: int, condition: Condition,
                    seed: int) -> np.ndarray:
    """`image` (index `image_index` in its split) as `condition` shows it."""
    if condition.corruption is None:
        return image
    rng = corruption_rng(seed, image_index, condition.corruption, condition.severity)
    return apply_corruption(condition.corruption, image, condition.severity, rng)
