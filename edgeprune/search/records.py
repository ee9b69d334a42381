"""candidates.jsonl: one line per evaluated candidate, appended and fsynced as it happens.

The log is the search's memory: a resumed search replays it into a fresh agent instead of
evaluating anything again. A process killed while writing can leave a torn last line (no
newline, or half a JSON object); reading ignores it and `CandidateLog.open_for_append` cuts it
off before the next line is written. A damaged line anywhere else is an error naming the line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import Evaluation

CANDIDATES = "candidates.jsonl"


@dataclass(frozen=True)
class CandidateRecord:
    step: int
    spec: dict  # PruneSpec.to_dict()
    spec_hash: str
    arch_hash: str
    accuracy: float  # the accuracy proxy, mAP@0.5 on the fixed validation subset
    # the latency the reward and target see: with a reference, latency_ratio x the base's
    # latency measured at the search's start (drift-corrected); else the measured median
    latency_ms: float
    latency: dict  # the whole LatencyResult
    gflops: float
    params: int
    reward: float
    flops_reward: float
    feasible: bool
    agent: str
    session: int  # 0 for the first run, +1 for every resume
    repeat_of: int | None  # step whose accuracy was reused (same network), else None
    accuracy_seconds: float
    latency_seconds: float
    wall_seconds: float  # this candidate, proposal to record
    time: str  # ISO 8601 UTC when recorded
    measured_ms: float | None = None  # the median measured in this candidate's window
    latency_ratio: float | None = None  # candidate / base, timed interleaved in one window
    noise: str | None = None  # why this measurement is suspect (re-taken, wide spread)

    @property
    def prune_spec(self) -> PruneSpec:
        return PruneSpec.from_dict(self.spec, f"{CANDIDATES} step {self.step}")

    @property
    def from_cache(self) -> bool:
        return bool(self.latency.get("from_cache"))

    def evaluation(self) -> Evaluation:
        return Evaluation(spec=self.prune_spec, step=self.step, accuracy=self.accuracy,
                          latency_ms=self.latency_ms, gflops=self.gflops, params=self.params,
                          reward=self.reward, flops_reward=self.flops_reward,
                          feasible=self.feasible)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, where: str) -> CandidateRecord:
        try:
            record = cls(**data)
            record.prune_spec  # noqa: B018  validates the spec
            return record
        except (TypeError, EdgepruneError) as exc:
            raise EdgepruneError(f"{where}: not a candidate record ({exc})") from None


class CandidateLog:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / CANDIDATES

    def read(self) -> list[CandidateRecord]:
        """Every complete record, in order; a torn last line is ignored."""
        records, _ = self._scan()
        return records

    def _scan(self) -> tuple[list[CandidateRecord], int]:
        """(records, byte length of the complete part of the file)."""
        if not self.path.is_file():
            return [], 0
        *complete, torn = self.path.read_bytes().split(b"\n")
        del torn  # text after the last newline: a write the process did not finish
        records: list[CandidateRecord] = []
        good = 0
        for number, line in enumerate(complete, 1):
            where = f"{self.path}:{number}"
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise EdgepruneError(f"{where}: damaged record ({exc})") from None
            record = CandidateRecord.from_json(data, where)
            if record.step != len(records):
                raise EdgepruneError(f"{where}: step {record.step} where step {len(records)} "
                                     f"was expected")
            records.append(record)
            good += len(line) + 1
        return records, good

    def open_for_append(self) -> None:
        """Cut a torn last line off, so the next record starts on a line of its own."""
        if not self.path.is_file():
            return
        _, good = self._scan()
        if good != self.path.stat().st_size:
            with self.path.open("r+b") as handle:
                handle.truncate(good)
                handle.flush()
                os.fsync(handle.fileno())

    def append(self, record: CandidateRecord) -> None:
        line = json.dumps(record.to_json(), sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

