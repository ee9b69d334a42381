"""The latency target of a search: an absolute latency or a speedup over the base model, both
on the device the search measures on, and the check that it can be reached at all."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeprune.errors import EdgepruneError

if TYPE_CHECKING:  # the CLI reads Target at import time: no torch before a verb runs
    from edgeprune.prune.space import PruneSpace

_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001}
_LATENCY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|us)?\s*$", re.IGNORECASE)


def parse_latency_ms(text: str | float) -> float:
    """'8ms', '8', '8.5 ms', '0.008s', '8000us' -> milliseconds (a bare number is ms)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _LATENCY.match(str(text))
        if not match:
            raise EdgepruneError(f"--target-latency {text!r}: expected a time such as 8ms, "
                                 f"8.5 ms, 0.008s or 8000us")
        value = float(match.group(1)) * _UNITS[(match.group(2) or "ms").lower()]
    if value <= 0:
        raise EdgepruneError(f"--target-latency {text!r}: must be positive")
    return value


@dataclass(frozen=True)
class Target:
    """What the user asked for: exactly one of `latency_ms` and `speedup`."""

    latency_ms: float | None = None
    speedup: float | None = None

    def __post_init__(self) -> None:
        if (self.latency_ms is None) == (self.speedup is None):
            raise EdgepruneError("give one target: --target-latency (e.g. 8ms) or "
                                 "--target-speedup (e.g. 3)")
        if self.speedup is not None and self.speedup <= 1:
            raise EdgepruneError(f"--target-speedup {self.speedup:g}: must be above 1 (the "
                                 f"base model itself has speedup 1)")

    def describe(self) -> str:
        if self.speedup is not None:
            return f"{self.speedup:g}x faster than the base"
        return f"{self.latency_ms:g} ms"

    def resolve_ms(self, base_latency_ms: float) -> float:
        """The target in milliseconds on the search's device."""
        if self.speedup is not None:
            return base_latency_ms / self.speedup
        return float(self.latency_ms)

    def to_dict(self) -> dict:
        return {"latency_ms": self.latency_ms, "speedup": self.speedup}

    @classmethod
    def from_dict(cls, data: dict) -> Target:
        return cls(latency_ms=data.get("latency_ms"), speedup=data.get("speedup"))


def check_reachable(target: Target, target_ms: float, base_ms: float,
                    fastest_ratio: float, fastest_ratio_ci: tuple[float, float], device: str,
                    fastest_what: str, further: str) -> None:
    """Refuse a target the search cannot meet, saying what it can reach in numbers a user can
    type back (rounded towards the reachable side, with the measurement's interval), and
    `further`: which setting holds the most-pruned network where it is."""
    fastest_ms = fastest_ratio * base_ms
    reach = (f"on {device} the networks this search may produce measure {fastest_ms:.3f} ms "
             f"({fastest_what}) to {base_ms:.3f} ms (the base)")
    if target_ms >= base_ms:
        raise EdgepruneError(f"the target {target_ms:.3f} ms is already met by the base model "
                             f"({base_ms:.3f} ms): nothing to search for; {reach}")
    if target_ms >= fastest_ms:
        return
    ratio_low, ratio_high = fastest_ratio_ci
    if target.speedup is not None:
        limit = _round_down(1 / fastest_ratio)
        careful = _round_down(1 / ratio_high) if ratio_high > 0 else limit
        asked = f"--target-speedup {target.speedup:g}"
        accepted = (f"the most-pruned network runs {1 / fastest_ratio:.4f}x faster than the "
                    f"base (95% interval {1 / ratio_high:.4f}-{1 / max(ratio_low, 1e-9):.4f}x): "
                    f"--target-speedup {limit:g} is accepted with these measurements, "
                    f"{careful:g} leaves room for their noise when measured again")
    else:
        limit = _round_up(fastest_ms)
        careful = _round_up(ratio_high * base_ms)
        asked = f"--target-latency {target.latency_ms:g}ms"
        accepted = (f"--target-latency {limit:g}ms is accepted with these measurements, "
                    f"{careful:g}ms leaves room for their noise when measured again")
    raise EdgepruneError(f"{asked} cannot be reached: {reach}; {accepted}. To prune further: "
                         f"{further}")


def _round_down(value: float) -> float:
    return math.floor(value * 1000) / 1000


def _round_up(value: float) -> float:
    return math.ceil(value * 1000) / 1000


def pruning_floor(space: PruneSpace, min_ratio: float, round_to: int, min_channels: int,
                  from_supernet: bool = False) -> str:
    """Which setting holds the most-pruned network (every block dropped, every keep ratio
    `min_ratio`) where it is, as advice: on thin layers --round-to and --min-channels keep
    more than the ratio asks, and then lowering --min-ratio alone changes nothing."""
    from edgeprune.prune.spec import PruneSpec

    blocks = [block.index for block in space.blocks]

    def kept(rounding: int, floor: int, ratio: float = min_ratio) -> int:
        spec = PruneSpec.create(drop_blocks=blocks, default_ratio=ratio, round_to=rounding,
                                min_channels=floor)
        return sum(space.resolve(spec).kept.values())

    actual = kept(round_to, min_channels)
    by_ratio = kept(1, 1)
    grid = " (the --supernet's grid: train one with a finer grid)" if from_supernet else ""
    if actual <= by_ratio * 1.05:
        return (f"lower --min-ratio (now {min_ratio:g}): the pruned layers keep {actual:,} "
                f"channels in all, as the ratio asks{grid}")
    without_floor, without_rounding = kept(round_to, 1), kept(1, min_channels)
    holders = []
    if without_floor < actual:
        holders.append((actual - without_floor, f"--min-channels {min_channels}"))
    if without_rounding < actual:
        holders.append((actual - without_rounding, f"--round-to {round_to}"))
    named = " and ".join(name for _, name in sorted(holders, reverse=True)) or \
        f"--round-to {round_to} with --min-channels {min_channels}"
    return (f"{named} hold the thin layers above --min-ratio {min_ratio:g} (the network keeps "
            f"{actual:,} channels where the ratio alone would keep {by_ratio:,}): lower "
            f"{'it' if len(holders) == 1 else 'them'}, not only --min-ratio{grid}")
