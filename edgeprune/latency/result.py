"""What a latency measurement says: `LatencyResult`, and the device it was taken on.

A number without its device is meaningless (docs/design.md: never compare numbers across devices),
so every result carries a `DeviceIdentity` and the backend's name and version, and both go into
the cache key. Results round-trip through JSON, which is how the server sends them and how the
cache stores them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from edgeprune.errors import EdgepruneError

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class DeviceIdentity:
    """The hardware and settings a measurement depends on (not the host name: two identical
    boards in the same power mode are the same device)."""

    kind: str  # "cpu", "cuda" or "jetson"
    name: str  # CPU model, or GPU name
    machine: str = ""  # CPU architecture (x86_64, aarch64)
    threads: int | None = None  # intra-op threads used (CPU backends)
    cores: int | None = None  # logical CPUs the device has
    board: str | None = None  # Jetson model from the device tree
    power_mode: str | None = None  # Jetson nvpmodel mode, when readable

    def key(self) -> str:
        """Canonical text used in cache keys."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    def describe(self) -> str:
        parts = [self.board or self.name]
        if self.board:
            parts.append(self.name)
        if self.power_mode:
            parts.append(f"power mode {self.power_mode}")
        if self.threads:
            parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        return ", ".join(p for p in parts if p)

    @classmethod
    def from_json(cls, data: dict) -> DeviceIdentity:
        return cls(**_known_fields(cls, data, "device identity"))


@dataclass
class LatencyResult:
    """One model's latency on one device, by one protocol. Times are milliseconds."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    cv: float  # std / mean of the kept attempt's samples
    runs: int  # timed runs of the kept attempt
    warmup_runs: int
    warmup_s: float
    input_shape: tuple[int, ...]
    precision: str
    backend: str
    backend_version: str
    device: DeviceIdentity
    median_ci_ms: tuple[float, float] = (0.0, 0.0)  # order-statistics CI of the median
    ci_level: float = 0.95
    remeasures: int = 0  # extra attempts because the spread was above the protocol's max_cv
    engine_build_s: float | None = None  # TensorRT engine build, where there is one
    # warm-up and timed runs, every attempt: what timing took apart from loading and building
    # (None in results recorded before it was)
    timing_s: float | None = None
    drift: dict | None = None  # latest reference-model check (see LatencyMeter)
    measured_at: str = ""  # ISO 8601 UTC
    total_s: float = 0.0  # wall time of the whole measurement (loading, build, timing)
    # timed interleaved with a reference model (the search's base): its median, the median
    # candidate/reference ratio and its spread (protocol.PairedTiming.summary); else None
    reference: dict | None = None
    # measured until independent measurements agreed (settle.py): {"attempts_ms": medians of
    # every measurement taken, "agreed": whether two agreed}; None for a single measurement
    settled: dict | None = None
    from_cache: bool = field(default=False, compare=False)

    @property
    def relative_ci(self) -> float:
        """Half-width of the median's confidence interval relative to the median."""
        low, high = self.median_ci_ms
        return (high - low) / 2 / self.median_ms if self.median_ms > 0 else float("inf")

    @property
    def ratio(self) -> float | None:
        """Candidate / reference latency in the same window, when timed against one."""
        return float(self.reference["ratio"]) if self.reference else None

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["median_ci_ms"] = list(self.median_ci_ms)
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: dict) -> LatencyResult:
        values = _known_fields(cls, data, "latency result")
        try:
            values["device"] = DeviceIdentity.from_json(values["device"])
            values["input_shape"] = tuple(int(v) for v in values["input_shape"])
            values["median_ci_ms"] = tuple(float(v) for v in values.get("median_ci_ms",
                                                                          (0.0, 0.0)))
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgepruneError(f"latency result: malformed ({exc})") from None

    @classmethod
    def loads(cls, text: str | bytes) -> LatencyResult:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise EdgepruneError(f"latency result: not JSON ({exc})") from None
        return cls.from_json(data)


def _known_fields(cls, data: dict, what: str) -> dict:
    """The fields `cls` knows; others are dropped so an older client reads a newer server."""
    if not isinstance(data, dict):
        raise EdgepruneError(f"{what}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise EdgepruneError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision
