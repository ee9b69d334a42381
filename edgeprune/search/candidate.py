"""`Candidate`: one candidate's outcome, the one type from the environment's measurement to the
line of candidates.jsonl and what an agent learns from.

The environment fills what it measures (accuracy, latency, size, architecture hash, seconds);
the search loop adds the step, the reward against the target and the bookkeeping
(`dataclasses.replace`), appends it to the log and tells the agent. Agents read `spec`, `step`,
`accuracy`, `latency_ms`, `gflops`, `params`, `reward`, `flops_reward` and `feasible`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from edgeprune.errors import EdgepruneError
from edgeprune.prune.spec import PruneSpec

CANDIDATES = "candidates.jsonl"


@dataclass(frozen=True)
class Candidate:
    """What was measured for one proposed spec, and what the search made of it.

    `reward` is the run's reward (accuracy traded against MEASURED latency, see reward.py);
    `flops_reward` is the same formula with latency replaced by FLOPs scaled to the base
    model's latency (cost = base_latency_ms x gflops / base_gflops): what the `flops` baseline
    learns from. Agents read `reward` unless their `reward_metric` is "flops".
    """

    spec: PruneSpec
    step: int
    accuracy: float  # the accuracy proxy, mAP@0.5 on the fixed validation subset
    # the latency the reward and target see: with a reference, latency_ratio x the base's
    # latency measured at the search's start (drift-corrected); else the measured median
    latency_ms: float
    gflops: float
    params: int
    reward: float = 0.0
    flops_reward: float = 0.0
    feasible: bool = False  # meets the target (hard budget) or within the soft tolerance
    arch_hash: str = ""
    latency: dict = field(default_factory=dict)  # the whole LatencyResult, as JSON
    agent: str = ""
    session: int = 0  # 0 for the first run, +1 for every resume
    repeat_of: int | None = None  # step whose accuracy was reused (same network), else None
    accuracy_seconds: float = 0.0  # 0 when the accuracy was already known
    latency_seconds: float = 0.0
    wall_seconds: float = 0.0  # this candidate, proposal to record
    time: str = ""  # ISO 8601 UTC when recorded
    measured_ms: float | None = None  # the median measured in this candidate's window
    latency_ratio: float | None = None  # candidate / base, timed interleaved in one window
    noise: str | None = None  # why this measurement is suspect (re-taken, wide spread)
    # scored by the device's latency model, not measured (search/measuring.py): `latency` is
    # then empty and `latency_ms` the prediction
    latency_predicted: bool = False
    # the model's answer, when it was asked: {"ms", "low_ms", "high_ms"} (a measured
    # candidate keeps it too, so the model's error on it can be read later)
    prediction: dict | None = None
    measure_reason: str | None = None  # why the model's candidate was measured anyway
    # with a robust accuracy (search/robust.py): mAP@0.5 clean, on the corrupted subset and on
    # the real one; `accuracy` is then their combination
    accuracy_parts: dict | None = None

    @property
    def spec_hash(self) -> str:
        return self.spec.hash

    @property
    def from_cache(self) -> bool:
        return bool(self.latency.get("from_cache"))

    @property
    def measured(self) -> bool:
        """Its latency is a device measurement (fresh or from the cache), not a prediction."""
        return not self.latency_predicted

    @property
    def measured_now(self) -> bool:
        """Its latency was measured on the device for it (neither cached nor predicted)."""
        return self.measured and not self.from_cache

    def reward_for(self, metric: Literal["latency", "flops"]) -> float:
        return self.flops_reward if metric == "flops" else self.reward

    def to_json(self) -> dict:
        """The candidates.jsonl line: the spec as its mapping, with its hash beside it."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["spec"] = self.spec.to_dict()
        data["spec_hash"] = self.spec.hash
        return data

    @classmethod
    def from_json(cls, data: dict, where: str) -> Candidate:
        try:
            values = dict(data)
            values.pop("spec_hash", None)  # follows from the spec
            values["spec"] = PruneSpec.from_dict(values["spec"], where)
            return cls(**values)
        except (KeyError, TypeError, EdgepruneError) as exc:
            raise EdgepruneError(f"{where}: not a candidate record ({exc})") from None
