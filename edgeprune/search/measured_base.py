"""The base model as the search measured it: state of the run, not a setting.

Taken once, at a fresh search's start, and kept in the run folder's measured_base.json: the
agent's context is built from it, so a resumed search gives its agent exactly the context the
first session did, without measuring the base again. Run folders of earlier releases kept it
in baseline.json, and before that in config.yaml under `baseline`; `load_measured_base` still
reads both.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError

MEASURED_BASE = "measured_base.json"
LEGACY_FILE = "baseline.json"  # the same record, under its name of earlier releases


@dataclass(frozen=True)
class MeasuredBase:
    """The base model measured on the search's device, and the target that follows."""

    latency: dict  # LatencyResult JSON of the base (the settled measurement, latency/settle.py)
    accuracy: float
    gflops: float
    params: int
    fastest_latency: dict  # LatencyResult JSON of the most-pruned allowed network
    target_ms: float
    # medians (ms) of the independent measurements of the base, in the order taken, and
    # whether two of them agreed (None: a run of a release that measured the base once)
    latency_attempts: list[float] = field(default_factory=list)
    settled: bool | None = None
    accuracy_parts: dict | None = None  # with a robust accuracy: clean, corrupted, real

    @property
    def latency_ms(self) -> float:
        return float(self.latency["median_ms"])

    @property
    def latency_ci_ms(self) -> tuple[float, float]:
        low, high = self.latency.get("median_ci_ms") or (self.latency_ms, self.latency_ms)
        return float(low), float(high)

    @property
    def fastest_ms(self) -> float:
        """The most-pruned network's latency as the search compares it: its ratio to the
        base in the same window times the base's latency."""
        reference = self.fastest_latency.get("reference") or {}
        ratio = reference.get("ratio")
        return (float(ratio) * self.latency_ms if ratio is not None
                else float(self.fastest_latency["median_ms"]))


def save_measured_base(run_dir: Path, base: MeasuredBase) -> None:
    atomic_write_text(Path(run_dir) / MEASURED_BASE,
                      json.dumps(dataclasses.asdict(base), indent=1) + "\n")


def load_measured_base(run_dir: Path) -> MeasuredBase | None:
    """The run's measured base, or None when the search has not measured it yet."""
    for name in (MEASURED_BASE, LEGACY_FILE):
        path = Path(run_dir) / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise EdgepruneError(f"{path}: damaged ({exc})") from None
            return _measured_base(data, str(path))
    from edgeprune.search.settings import CONFIG

    legacy = Path(run_dir) / CONFIG  # written by a release that kept it among the settings
    if legacy.is_file():
        try:
            data = yaml.safe_load(legacy.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            return None  # SearchSettings.load names the problem
        if isinstance(data, dict) and data.get("baseline"):
            return _measured_base(data["baseline"], f"{legacy}: baseline")
    return None


def _measured_base(data, source: str) -> MeasuredBase:
    try:
        return MeasuredBase(**data)
    except TypeError as exc:
        raise EdgepruneError(f"{source}: not a measured base ({exc})") from None
