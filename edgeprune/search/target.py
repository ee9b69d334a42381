"""The latency target of a search: an absolute latency or a speedup over the base model, both
on the device the search measures on, and the check that it can be reached at all."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeprune.errors import EdgepruneError

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


def check_reachable(target_ms: float, base_ms: float, fastest_ms: float, device: str,
                    fastest_what: str) -> None:
    """Refuse a target the search cannot meet, saying what range it can reach."""
    reachable = (f"networks this search can produce measure {fastest_ms:.3f} ms "
                 f"({fastest_what}) to {base_ms:.3f} ms (the base) on {device}")
    if target_ms >= base_ms:
        raise EdgepruneError(f"the target {target_ms:.3f} ms is already met by the base model "
                             f"({base_ms:.3f} ms): nothing to search for; {reachable}")
    if target_ms < fastest_ms:
        raise EdgepruneError(f"the target {target_ms:.3f} ms cannot be reached: {reachable}; "
                             f"a speedup of at most {base_ms / fastest_ms:.2f}x is possible "
                             f"(lower --min-ratio to prune further)")
