"""A number a whole search leans on (its base's latency) is measured until two independent
measurements agree: one taken in a busy window (11.99 ms where the model runs 6.8 ms alone)
must not become the base."""

from __future__ import annotations

import dataclasses

from edgeprune.latency import LatencyCache, LatencyMeter, create_backend
from edgeprune.latency.result import DeviceIdentity, LatencyResult
from edgeprune.latency.settle import agree, settle
from edgeprune.models import create


def result(median: float, spread: float = 0.01, cached: bool = False) -> LatencyResult:
    return LatencyResult(median, median * 1.1, median, median * spread, spread, 50, 10, 0.1,
                         (1, 3, 64, 64), "fp32", "ort-cpu", "1", DeviceIdentity("cpu", "x"),
                         median_ci_ms=(median * (1 - spread), median * (1 + spread)),
                         from_cache=cached)


def scripted(*medians: float):
    """measure(use_cache) answering the given medians in order, recording use_cache."""
    asked: list[bool] = []
    answers = iter(medians)

    def measure(use_cache: bool) -> LatencyResult:
        asked.append(use_cache)
        return result(next(answers))

    return measure, asked


def test_a_busy_window_is_outvoted_by_two_measurements_that_agree():
    measure, asked = scripted(11.99, 6.80, 6.86)
    settled = settle(measure)
    assert settled.settled and settled.result.median_ms == 6.80
    assert settled.medians_ms == [11.99, 6.80, 6.86]
    assert settled.result.settled == {"attempts_ms": [11.99, 6.80, 6.86], "agreed": True}
    assert asked == [True, False, False]  # only the first may come from the cache
    assert "settled by 3 independent" in settled.describe()


def test_two_agreeing_measurements_settle_at_once_on_the_lower():
    measure, asked = scripted(7.00, 6.95)
    settled = settle(measure)
    assert settled.settled and settled.result.median_ms == 6.95 and len(asked) == 2


def test_measurements_that_never_agree_keep_the_lowest_and_say_so():
    measure, _ = scripted(12.0, 7.0, 9.5, 15.0)
    settled = settle(measure, attempts=4)
    assert not settled.settled and settled.result.median_ms == 7.0
    assert "NOT settled" in settled.describe() and "12.000, 7.000, 9.500, 15.000" in \
        settled.describe()


def test_agreement_needs_close_medians_and_overlapping_intervals():
    assert agree(result(10.0), result(10.1))
    assert not agree(result(10.0), result(10.8))  # 8% apart
    wide = dataclasses.replace(result(10.0), median_ci_ms=(9.9, 10.01))
    assert not agree(wide, result(10.4, spread=0.001))  # 4% apart, intervals apart


def test_the_meter_settles_a_real_model_and_caches_the_kept_result(tmp_path, fast_protocol):
    meter = LatencyMeter(create_backend("ort-cpu", threads=1),
                         cache=LatencyCache(tmp_path / "c.sqlite"), protocol=fast_protocol)
    model = create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)
    settled = meter.measure_settled(model)
    assert len(settled.attempts) >= 2 and not settled.attempts[0].from_cache
    assert settled.result.median_ms in settled.medians_ms
    again = meter.measure(model)
    assert again.from_cache and again.median_ms == settled.result.median_ms
    assert again.settled == {"attempts_ms": settled.medians_ms, "agreed": settled.settled}
    if settled.settled:  # a search run again on the same cache sees the same base
        before = meter.fresh_measurements
        reused = meter.measure_settled(model)
        assert reused.reused and meter.fresh_measurements == before
        assert reused.result.median_ms == settled.result.median_ms


def test_a_result_settled_before_is_the_answer_agreed_or_not():
    """The same cache gives the same base (a search resumed or run again must see the same
    milliseconds); a plain cached measurement is only the first of the independent ones."""
    for agreed in (True, False):
        settled_before = dataclasses.replace(result(7.0), settled={"attempts_ms": [9.0, 7.0],
                                                                   "agreed": agreed})
        asked: list[bool] = []

        def measure(use_cache: bool, answer=settled_before, asked=asked) -> LatencyResult:
            asked.append(use_cache)
            return answer if use_cache else result(5.0)

        again = settle(measure)
        assert again.reused and again.settled == agreed and asked == [True]
        assert again.result.median_ms == 7.0 and again.medians_ms == [9.0, 7.0]
    measure, asked = scripted(7.0, 7.02)
    plain = settle(measure)  # the first answer is a plain (cached) measurement
    assert plain.settled and not plain.reused and asked == [True, False]
    assert plain.result.settled == {"attempts_ms": [7.0, 7.02], "agreed": True}
