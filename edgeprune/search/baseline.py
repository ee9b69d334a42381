"""The base model as the search measured it: state of the run, not a setting.

Taken once, at a fresh search's start, and kept in the run folder's baseline.json: the agent's
context is built from it, so a resumed search gives its agent exactly the context the first
session did, without measuring the base again. Run folders of earlier releases kept it in
config.yaml under `baseline`; `load_baseline` still reads it there.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError

BASELINE = "baseline.json"


@dataclass(frozen=True)
class Baseline:
    """The base model measured on the search's device, and the target that follows."""

    latency: dict  # LatencyResult JSON of the base
    accuracy: float
    gflops: float
    params: int
    fastest_latency: dict  # LatencyResult JSON of the most-pruned allowed network
    target_ms: float

    @property
    def latency_ms(self) -> float:
        return float(self.latency["median_ms"])

    @property
    def fastest_ms(self) -> float:
        return float(self.fastest_latency["median_ms"])


def save_baseline(run_dir: Path, baseline: Baseline) -> None:
    atomic_write_text(Path(run_dir) / BASELINE,
                      json.dumps(dataclasses.asdict(baseline), indent=1) + "\n")


def load_baseline(run_dir: Path) -> Baseline | None:
    """The run's measured base, or None when the search has not measured it yet."""
    path = Path(run_dir) / BASELINE
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise EdgepruneError(f"{path}: damaged ({exc})") from None
        return _baseline(data, str(path))
    from edgeprune.search.settings import CONFIG

    legacy = Path(run_dir) / CONFIG  # written by a release that kept it among the settings
    if legacy.is_file():
        try:
            data = yaml.safe_load(legacy.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            return None  # SearchSettings.load names the problem
        if isinstance(data, dict) and data.get("baseline"):
            return _baseline(data["baseline"], f"{legacy}: baseline")
    return None


def _baseline(data, source: str) -> Baseline:
    try:
        return Baseline(**data)
    except TypeError as exc:
        raise EdgepruneError(f"{source}: not a measured baseline ({exc})") from None
