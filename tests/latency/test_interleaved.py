"""A candidate timed interleaved with a reference in one window: the ratio, its cache row, and
the fallback for a device server that holds one model at a time."""

from __future__ import annotations

import numpy as np

from edgeprune.latency import LatencyCache, LatencyMeter, create_backend
from edgeprune.latency.protocol import Protocol, run_interleaved
from edgeprune.models import create
from edgeprune.prune import PruneSpec, pruned_cfg
from tests.latency.latency_support import TOKEN, AgentProcess

PAIRS = {"warmup_runs": 3, "warmup_seconds": 0.0, "min_runs": 20, "max_runs": 60,
         "max_seconds": 2.0, "target_rel_ci": 0.02, "max_remeasures": 0, "drift_every": 0}


def models():
    base = create("yolov3", num_classes=3, width=0.25, imgsz=96).cfg
    return base, pruned_cfg(base, PruneSpec.uniform(0.5))


def test_paired_timing_keeps_the_ratio_while_the_device_slows_down():
    """Both calls of a pair see the same slowdown; the per-pair ratio stays at the true one
    while the milliseconds double halfway through."""
    clock = {"calls": 0}

    def slowed(cost: float):
        def call() -> float:
            clock["calls"] += 1
            return cost * (2.0 if clock["calls"] > 60 else 1.0)
        return call

    protocol = Protocol().with_overrides({**PAIRS, "min_runs": 60, "max_runs": 60})
    paired = run_interleaved(slowed(0.004), slowed(0.010), protocol)
    assert len(paired.ratios) == 60
    assert np.allclose(paired.ratios, 0.4)
    assert paired.candidate.samples_ms.max() / paired.candidate.samples_ms.min() == 2.0
    summary = paired.summary("ref")
    assert summary["ratio"] == 0.4 and summary["interleaved"] and summary["pairs"] == 60


def test_interleaved_ratio_matches_separate_medians_and_is_cached(tmp_path):
    base, half = models()
    protocol = Protocol().with_overrides(PAIRS)
    meter = LatencyMeter(create_backend("ort-cpu", threads=1),
                         cache=LatencyCache(tmp_path / "c.sqlite"), protocol=protocol)
    # each alone, three times in alternation: the ms ratio as an idle machine gives it
    times = [(meter.measure(half, use_cache=False).median_ms,
              meter.measure(base, use_cache=False).median_ms) for _ in range(3)]
    alone = float(np.median([h for h, _ in times]) / np.median([b for _, b in times]))
    meter.use_reference(base)
    paired = meter.measure(half)
    assert paired.reference is not None and paired.reference["interleaved"]
    assert paired.reference["pairs"] >= 20 and paired.reference["arch_hash"] == meter.reference[0]
    assert 0.2 < paired.ratio < 0.9
    # one window against separate ones: equal within the noise of an idle machine
    assert abs(paired.ratio / alone - 1) < 0.3, (paired.ratio, alone)
    again = meter.measure(half)
    assert again.from_cache and again.ratio == paired.ratio
    assert not meter.measure(half, interleave=False).reference  # its own row, timed alone
    itself = meter.measure(base)
    assert itself.reference is None  # the reference is never timed against itself
    meter.close()


def test_server_without_pairs_times_the_reference_before_and_after(tmp_path):
    base, half = models()
    agent = AgentProcess("--token", TOKEN)
    try:
        backend = create_backend("remote", url=agent.url, token=TOKEN)
        meter = LatencyMeter(backend, cache=LatencyCache(tmp_path / "c.sqlite"),
                             protocol=Protocol().with_overrides(PAIRS))
        meter.use_reference(base)
        result = meter.measure(half)
        assert result.reference["interleaved"] is False and result.reference["pairs"] == 0
        assert 0.2 < result.ratio < 0.9
        meter.close()
    finally:
        agent.stop()
