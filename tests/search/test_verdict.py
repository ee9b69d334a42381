"""What the search tells its user about its result: latencies with their intervals, and a
plain warning when the best candidate keeps too little of the base's accuracy (a search of an
already-pruned model once reported a best of 0.0018 against the base's 0.54 as a success)."""

from __future__ import annotations

from edgeprune.latency.result import DeviceIdentity, LatencyResult
from edgeprune.prune.spec import PruneSpec
from edgeprune.search.candidate import Candidate
from edgeprune.search.measured_base import MeasuredBase
from edgeprune.search.verdict import latency_cells, weak_best

BASE = MeasuredBase(latency={"median_ms": 10.0, "median_ci_ms": [9.8, 10.3]}, accuracy=0.54,
                    gflops=2.0, params=1000, fastest_latency={"median_ms": 2.0},
                    target_ms=7.7, latency_attempts=[10.0, 10.1], settled=True)


def candidate(step: int, accuracy: float, latency_ms: float) -> Candidate:
    ratio = latency_ms / 10.0
    window = latency_ms * 1.3  # the window it was timed in was slower: the ratio holds
    latency = LatencyResult(window, window, window, 0.1, 0.01, 40, 10, 0.1, (1, 3, 64, 64),
                            "fp32", "ort-cpu", "1", DeviceIdentity("cpu", "x"),
                            median_ci_ms=(window * 0.9, window * 1.1),
                            reference={"ratio": ratio,
                                       "ratio_ci": [ratio * 0.98, ratio * 1.02]}).to_json()
    return Candidate(PruneSpec.uniform(0.5), step, accuracy, latency_ms, 1.0, 500,
                     latency=latency, latency_ratio=ratio)


def test_a_best_that_keeps_under_half_the_base_is_called_useless_with_what_to_try():
    best = candidate(3, 0.0018, 7.5)
    front = [best, candidate(5, 0.30, 9.0)]
    text = weak_best(BASE, best, front, "bn-recal", base_pruned_before=True)
    assert "keeps only 0%" in text and "0.0018" in text and "0.5400" in text
    assert "already pruned" in text and "bn-recal" in text
    assert "gentler target" in text and "9.000 ms (1.11x, step 5)" in text
    assert "supernet" in text and "edgeprune val" in text


def test_a_best_that_keeps_enough_says_nothing():
    best = candidate(1, 0.30, 7.0)
    assert weak_best(BASE, best, [best], "bn-recal", base_pruned_before=False) is None
    assert weak_best(BASE, None, [], "bn-recal", base_pruned_before=False) is None


def test_no_candidate_keeping_half_is_said_and_pruningnet_is_not_advised_again():
    best = candidate(0, 0.1, 7.0)
    text = weak_best(BASE, best, [best], "pruningnet", base_pruned_before=False)
    assert "no candidate kept half" in text and "supernet train" not in text
    assert "already pruned" not in text


def test_latencies_carry_their_intervals():
    cells = latency_cells(BASE, candidate(2, 0.5, 5.0))
    assert cells.base == "10.000 (9.800-10.300)"
    assert cells.best == "5.000 (4.802-5.253)"  # ratio interval x base interval
    assert cells.speedup == "2.00x faster (1.96-2.04x)"
