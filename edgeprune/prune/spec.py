"""`PruneSpec`: one pruning candidate, as plain data that can be hashed, cached, logged and sent.

A spec names things by their place in the BASE model: residual blocks by their position among
`residual_blocks(cfg)`, channel sets by the index of a conv layer that produces them. It holds
no weights and no model, so the same spec file applies to every copy of a base model. Whether
a spec fits a model is checked by `PruneSpace.resolve` (edgeprune/prune/space.py).

File format (YAML or JSON; JSON needs string keys for `ratios`):

    drop_blocks: [3, 5, 7]     # residual blocks removed whole
    default_ratio: 1.0         # keep ratio of every prunable channel set not listed below
    ratios: {1: 0.5, 12: 0.25} # keep ratio per conv layer (the whole coupled set follows it)
    round_to: 8                # kept channels are rounded to a multiple of this
    min_channels: 8            # and never fewer than this (nor more than the layer has)

A ratio for a conv inside a dropped block is accepted and has nothing left to act on, so a
search can sample block and channel decisions independently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError

SPEC_KEYS = ("drop_blocks", "default_ratio", "ratios", "round_to", "min_channels")


class SpecError(EdgepruneError):
    """A prune spec that is malformed or does not fit the model it is applied to."""


@dataclass(frozen=True)
class PruneSpec:
    drop_blocks: tuple[int, ...] = ()
    ratios: tuple[tuple[int, float], ...] = ()  # (conv layer index, keep ratio), sorted
    default_ratio: float = 1.0
    round_to: int = 8
    min_channels: int = 8
    source: str = field(default="<spec>", compare=False)

    def __post_init__(self) -> None:
        # Normalized here so equal specs compare, print and hash equal however they were built.
        self._check()
        object.__setattr__(self, "drop_blocks", tuple(sorted(set(self.drop_blocks))))
        object.__setattr__(self, "ratios",
                           tuple(sorted((k, float(r)) for k, r in dict(self.ratios).items())))
        object.__setattr__(self, "default_ratio", float(self.default_ratio))

    @classmethod
    def create(cls, drop_blocks: Iterable[int] = (), ratios: Mapping[int, float] | None = None,
               default_ratio: float = 1.0, round_to: int = 8, min_channels: int = 8,
               source: str = "<spec>") -> PruneSpec:
        return cls(tuple(drop_blocks), tuple((ratios or {}).items()), default_ratio, round_to,
                   min_channels, source)

    @classmethod
    def uniform(cls, ratio: float, round_to: int = 8, min_channels: int = 8) -> PruneSpec:
        """Every prunable channel set keeps `ratio` of its channels."""
        return cls(default_ratio=ratio, round_to=round_to, min_channels=min_channels)

    @property
    def ratio_map(self) -> dict[int, float]:
        return dict(self.ratios)

    @property
    def is_empty(self) -> bool:
        """True when the spec changes nothing, whatever the model."""
        return (not self.drop_blocks and self.default_ratio == 1.0
                and all(r == 1.0 for _, r in self.ratios))

    def _check(self) -> None:
        where = self.source
        for block in self.drop_blocks:
            if isinstance(block, bool) or not isinstance(block, int) or block < 0:
                raise SpecError(f"{where}: drop_blocks: {block!r} is not a block index "
                                f"(0, 1, 2, ...)")
        for layer, ratio in dict(self.ratios).items():
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
                raise SpecError(f"{where}: ratios: {layer!r} is not a layer index")
            _check_ratio(ratio, f"{where}: ratios: layer {layer}")
        _check_ratio(self.default_ratio, f"{where}: default_ratio")
        for name in ("round_to", "min_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"{where}: {name} must be a whole number >= 1, got {value!r}")

    def kept_channels(self, width: int, ratio: float) -> int:
        """Channels kept of a set `width` wide at keep ratio `ratio` under this spec's rounding.

        The nearest multiple of `round_to` (at least one multiple), then at least `min_channels`,
        never more than `width`; ratio 1 always keeps `width` (irregular widths stay as they are).
        """
        if ratio >= 1.0:
            return width
        rounded = math.floor(ratio * width / self.round_to + 0.5) * self.round_to
        return min(width, max(rounded, self.round_to, self.min_channels))

    # ---------------------------------------------------------------------------- (de)serialize

    def to_dict(self) -> dict:
        return {"drop_blocks": list(self.drop_blocks), "default_ratio": self.default_ratio,
                "ratios": {layer: ratio for layer, ratio in self.ratios},
                "round_to": self.round_to, "min_channels": self.min_channels}

    @classmethod
    def from_dict(cls, data: object, source: str = "<spec>") -> PruneSpec:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise SpecError(f"{source}: a prune spec is a mapping with keys "
                            f"{', '.join(SPEC_KEYS)}; got {type(data).__name__}")
        unknown = [str(k) for k in data if k not in SPEC_KEYS]
        if unknown:
            raise SpecError(f"{source}: unknown key {unknown[0]!r} (known: "
                            f"{', '.join(SPEC_KEYS)})")
        drops = data.get("drop_blocks") or []
        if not isinstance(drops, list):
            raise SpecError(f"{source}: drop_blocks must be a list of block indices, "
                            f"got {drops!r}")
        ratios = data.get("ratios") or {}
        if not isinstance(ratios, Mapping):
            raise SpecError(f"{source}: ratios must map conv layer index to keep ratio, "
                            f"got {ratios!r}")
        return cls(drop_blocks=tuple(_as_int(b, f"{source}: drop_blocks") for b in drops),
                   ratios=tuple((_as_int(k, f"{source}: ratios"),
                                 _as_float(v, f"{source}: ratios: layer {k}"))
                                for k, v in ratios.items()),
                   default_ratio=_as_float(data.get("default_ratio", 1.0),
                                           f"{source}: default_ratio"),
                   round_to=_as_int(data.get("round_to", 8), f"{source}: round_to"),
                   min_channels=_as_int(data.get("min_channels", 8), f"{source}: min_channels"),
                   source=source)

    def to_json(self) -> str:
        """Canonical JSON: equal specs give equal text (the hash is taken over it)."""
        data = self.to_dict()
        data["ratios"] = {str(k): v for k, v in data["ratios"].items()}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    @property
    def hash(self) -> str:
        """Stable hex digest of what the spec means: the search caches candidates by it.

        Ratios equal to the default are left out, so listing them or not gives the same hash.
        """
        meaningful = PruneSpec(self.drop_blocks,
                               tuple((k, r) for k, r in self.ratios if r != self.default_ratio),
                               self.default_ratio, self.round_to, self.min_channels)
        return hashlib.sha256(meaningful.to_json().encode()).hexdigest()

    def replace(self, **changes) -> PruneSpec:
        return dataclasses.replace(self, **changes)


def _check_ratio(ratio: object, where: str) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise SpecError(f"{where}: keep ratio {ratio!r} is not a number")
    if not 0.0 < ratio <= 1.0:  # also false for NaN
        raise SpecError(f"{where}: keep ratio {ratio} is outside (0, 1]")


def _as_int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{where}: {value!r} is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SpecError(f"{where}: {value!r} is not a whole number")


def _as_float(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{where}: keep ratio {value!r} is not a number")
    return float(value)


def load_spec(path: str | Path) -> PruneSpec:
    """Read a spec from .yaml/.yml or .json; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise SpecError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return PruneSpec.from_dict(data, str(path))


def save_spec(spec: PruneSpec, path: str | Path) -> Path:
    """Write a spec atomically as JSON (.json) or YAML (anything else)."""
    path = Path(path)
    text = spec.to_json() + "\n" if path.suffix == ".json" else spec.to_yaml()
    atomic_write_text(path, text)
    return path
