"""Measurement where it decides: a candidate is measured when its interval straddles the
target, when it could become the best or enter the Pareto front, and at an audit rate; a
clearly infeasible or clearly dominated one is scored by the latency model."""

from __future__ import annotations

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.candidate import Candidate
from edgeprune.search.measuring import audit_draw, measure_reason
from edgeprune.search.reward import RewardConfig

HARD = RewardConfig()
TARGET = 10.0


def measured(step: int, accuracy: float, latency_ms: float) -> Candidate:
    return Candidate(PruneSpec.uniform(0.5), step, accuracy, latency_ms, 1.0, 100,
                     reward=accuracy if latency_ms <= TARGET else -(latency_ms / TARGET - 1),
                     feasible=latency_ms <= TARGET, latency={"median_ms": latency_ms})


SEEN = [measured(0, 0.50, 9.0), measured(1, 0.40, 7.0), measured(2, 0.60, 14.0)]


def reason(accuracy: float, low: float, high: float, seen=SEEN, step: int = 7,
           audit_rate: float = 0.0) -> str | None:
    return measure_reason(step, accuracy, low, high, TARGET, HARD, seen, seed=0,
                          audit_rate=audit_rate)


def test_an_interval_across_the_target_is_measured():
    assert reason(0.1, 9.5, 10.5) == "its interval straddles the target"


def test_a_candidate_that_could_become_the_best_is_measured():
    assert reason(0.55, 8.0, 9.0) == "it could become the best"  # beats 0.50 within target
    assert reason(0.1, 8.0, 9.0, seen=[]) == "it could become the best"  # nothing measured
    # with nothing feasible measured yet, an over-target one with a smaller miss could be
    over = [measured(0, 0.5, 15.0)]
    assert reason(0.1, 12.0, 13.0, seen=over) == "it could become the best"


def test_a_candidate_that_could_enter_the_front_is_measured():
    # not the best (0.45 < 0.50) but faster than everything as accurate: a front point
    assert reason(0.45, 5.0, 6.0) == "it could enter the Pareto front"


def test_a_clearly_infeasible_or_dominated_candidate_is_predicted():
    assert reason(0.30, 16.0, 18.0) is None  # over the target, beaten by step 2 (14 ms, 0.60)
    assert reason(0.35, 7.5, 8.5) is None  # within it, beaten by step 1 (7 ms, 0.40)


def test_the_audit_measures_a_fixed_share_drawn_from_seed_and_step():
    draws = [audit_draw(0, step) for step in range(2000)]
    assert draws == [audit_draw(0, step) for step in range(2000)]  # no generator state
    assert 0.04 < sum(d < 0.05 for d in draws) / len(draws) < 0.06
    audited = [step for step in range(200) if reason(0.30, 16.0, 18.0, step=step,
                                                     audit_rate=0.05) == "audit"]
    assert audited == [step for step in range(200) if audit_draw(0, step) < 0.05]
    assert audited  # some, not all
    assert len(audited) < 30
