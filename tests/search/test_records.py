"""candidates.jsonl survives a killed writer; Pareto front and best candidate."""

import json

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.prune.spec import PruneSpec
from edgeprune.search.candidate import Candidate
from edgeprune.search.records import CandidateLog
from edgeprune.search.results import best_record, distinct, pareto_front, write_pareto_csv


def record(step: int, latency: float, accuracy: float, *, feasible: bool = True,
           reward: float | None = None, arch: str | None = None) -> Candidate:
    spec = PruneSpec.uniform(round(1 - step / 100, 2))
    return Candidate(
        step=step, spec=spec, arch_hash=arch or f"arch{step}",
        accuracy=accuracy, latency_ms=latency, latency={"median_ms": latency, "from_cache": False},
        gflops=latency / 10, params=1000 + step, reward=accuracy if reward is None else reward,
        flops_reward=accuracy, feasible=feasible, agent="random", session=0, repeat_of=None,
        accuracy_seconds=0.1, latency_seconds=0.1, wall_seconds=0.2, time="2026-01-01T00:00:00")


def test_records_round_trip_and_rebuild_evaluations(tmp_path):
    log = CandidateLog(tmp_path)
    assert log.read() == []
    written = [record(0, 5.0, 0.5), record(1, 4.0, 0.4, feasible=False)]
    for item in written:
        log.append(item)
    assert log.read() == written
    evaluation = log.read()[1]  # what the agent is told: the record itself
    assert evaluation.step == 1 and evaluation.latency_ms == 4.0 and not evaluation.feasible
    assert evaluation.spec == PruneSpec.uniform(0.99)


def test_a_torn_last_line_is_ignored_then_cut_before_appending(tmp_path):
    log = CandidateLog(tmp_path)
    log.append(record(0, 5.0, 0.5))
    whole = log.path.read_bytes()
    line = json.dumps(record(1, 4.0, 0.4).to_json())
    log.path.write_bytes(whole + line[: len(line) // 2].encode())  # killed mid-write
    assert [r.step for r in log.read()] == [0]
    log.open_for_append()
    assert log.path.read_bytes() == whole
    log.append(record(1, 4.0, 0.4))
    assert [r.step for r in log.read()] == [0, 1]


def test_a_complete_line_without_its_newline_is_still_torn(tmp_path):
    log = CandidateLog(tmp_path)
    log.append(record(0, 5.0, 0.5))
    with log.path.open("a") as handle:
        handle.write(json.dumps(record(1, 4.0, 0.4).to_json()))  # the newline never came
    assert len(log.read()) == 1


def test_damage_before_the_last_line_is_an_error_naming_the_line(tmp_path):
    log = CandidateLog(tmp_path)
    log.append(record(0, 5.0, 0.5))
    with log.path.open("a") as handle:
        handle.write("{not json\n")
    log.append(record(1, 4.0, 0.4))
    with pytest.raises(EdgepruneError, match=r"candidates\.jsonl:2: damaged record"):
        log.read()
    log.path.write_text(json.dumps(record(1, 4.0, 0.4).to_json()) + "\n")
    with pytest.raises(EdgepruneError, match="step 1 where step 0 was expected"):
        log.read()
    log.path.write_text(json.dumps({"step": 0}) + "\n")
    with pytest.raises(EdgepruneError, match=":1: not a candidate record"):
        log.read()


def test_pareto_front_keeps_the_non_dominated_networks():
    records = [record(0, 10.0, 0.50), record(1, 6.0, 0.40), record(2, 8.0, 0.35),
               record(3, 4.0, 0.20), record(4, 6.0, 0.45), record(5, 12.0, 0.49),
               record(6, 4.0, 0.20, arch="arch3")]  # a repeat of step 3's network
    assert [r.step for r in pareto_front(records)] == [3, 4, 0]
    assert [r.step for r in distinct(records)] == [0, 1, 2, 3, 4, 5]


def test_best_is_the_highest_reward_that_meets_the_target(tmp_path):
    records = [record(0, 10.0, 0.9, feasible=False, reward=0.7), record(1, 6.0, 0.4),
               record(2, 5.0, 0.4), record(3, 7.0, 0.3)]
    assert best_record(records).step == 2  # equal reward: the faster one
    infeasible = [record(0, 10.0, 0.9, feasible=False, reward=0.7),
                  record(1, 9.0, 0.5, feasible=False, reward=0.45)]
    assert best_record(infeasible).step == 0
    assert best_record([]) is None
    path = tmp_path / "pareto.csv"
    write_pareto_csv(path, pareto_front(records))
    lines = path.read_text().splitlines()
    assert lines[0].startswith("step,latency_ms,accuracy") and len(lines) == 3
