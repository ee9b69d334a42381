import itertools
import math

import numpy as np
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency.protocol import Protocol, median_ci, relative_ci, run_protocol


def test_median_ci_uses_binomial_order_statistics():
    samples = np.arange(1, 21, dtype=float)  # 1..20
    # For n=20 at 95%, P(B <= 5) = 0.0207 <= 0.025 < P(B <= 6): ranks 6 and 15.
    assert median_ci(samples, 0.95) == (6.0, 15.0)
    low, high = median_ci(np.arange(1, 2001, dtype=float), 0.95)  # normal approximation
    assert 950 <= low < 1000.5 < high <= 1051


def test_median_ci_covers_the_true_median_at_the_stated_rate():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):
        samples = rng.lognormal(0.0, 0.5, 41)  # true median 1.0, skewed like latencies
        low, high = median_ci(samples, 0.95)
        covered += low <= 1.0 <= high
    assert 0.92 <= covered / 400 <= 0.995


def test_too_few_samples_give_the_whole_range():
    assert median_ci(np.array([3.0, 1.0, 2.0]), 0.95) == (1.0, 3.0)


def test_protocol_overrides_are_checked():
    protocol = Protocol().with_overrides({"max_runs": "50", "target_rel_ci": 0.05})
    assert protocol.max_runs == 50 and protocol.target_rel_ci == 0.05
    with pytest.raises(EdgepruneError, match="unknown protocol field 'max_run'"):
        Protocol().with_overrides({"max_run": 5})
    with pytest.raises(EdgepruneError, match="expects an integer"):
        Protocol().with_overrides({"min_runs": 2.5})
    with pytest.raises(EdgepruneError, match="exceeds max_runs"):
        Protocol(min_runs=10, max_runs=5)
    with pytest.raises(EdgepruneError, match="ci_level"):
        Protocol(ci_level=1.5)


@pytest.mark.parametrize("field", ["warmup_seconds", "max_seconds", "ci_level", "target_rel_ci",
                                   "max_cv", "drift_tolerance"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_in_every_field(field, value):
    # nan compares false with everything, so a bound alone (value > cap) would let it through
    with pytest.raises(EdgepruneError, match=f"{field} must be a finite number"):
        Protocol().with_overrides({field: value})


def test_longest_timing_counts_every_attempt_and_both_sides_of_a_pair():
    protocol = Protocol(warmup_seconds=0.5, max_seconds=20, max_remeasures=2)
    assert protocol.longest_timing_s() == 3 * 20.5
    assert protocol.longest_timing_s(interleaved=True) == 3 * 40.5


def _clock(values):
    """A timed call returning the given durations (seconds) in a cycle."""
    cycle = itertools.cycle(values)
    return lambda: next(cycle)


def test_stops_once_the_median_is_known_well_enough():
    steady = _clock([0.0100, 0.0101, 0.0099, 0.0100])
    timing = run_protocol(steady, Protocol(warmup_runs=5, warmup_seconds=0, min_runs=20,
                                           target_rel_ci=0.02))
    assert timing.samples_ms.size == 20  # the CI target is met at the first check
    assert timing.warmup_runs == 5
    assert timing.median_ms == pytest.approx(10.0, rel=0.02)
    stats = timing.stats()
    assert stats["runs"] == 20 and stats["remeasures"] == 0
    assert stats["p90_ms"] >= stats["median_ms"]


def test_runs_to_the_cap_when_the_ci_stays_wide():
    noisy = _clock([0.001, 0.010, 0.002, 0.009, 0.005])
    timing = run_protocol(noisy, Protocol(warmup_runs=0, warmup_seconds=0, min_runs=10,
                                          max_runs=60, target_rel_ci=0.001, max_cv=10))
    assert timing.samples_ms.size == 60


def test_high_spread_triggers_remeasures_and_keeps_the_steadiest_attempt():
    calls = itertools.count()

    def spiky() -> float:  # the first attempt is noisy, later ones steady
        n = next(calls)
        return 0.05 if n < 20 and n % 3 == 0 else 0.01

    timing = run_protocol(spiky, Protocol(warmup_runs=0, warmup_seconds=0, min_runs=20,
                                          max_runs=20, max_cv=0.1, max_remeasures=3))
    assert timing.remeasures == 1
    assert timing.stats()["cv"] < 0.1
    assert relative_ci(timing.samples_ms, 0.95) < math.inf
