"""A candidate timed interleaved with a reference in one window: the ratio, its cache row, and
the fallback for a device server that holds one model at a time."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.latency import LatencyCache, LatencyMeter, create_backend
from edgeprune.latency.backends.base import Backend
from edgeprune.latency.protocol import Protocol, run_interleaved
from edgeprune.models import create
from edgeprune.prune import PruneSpec, pruned_cfg
from tests.latency.latency_helpers import TOKEN, ServerProcess

PAIRS = {"warmup_runs": 3, "warmup_seconds": 0.0, "min_runs": 20, "max_runs": 200,
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

    protocol = Protocol().with_overrides({**PAIRS, "min_runs": 60, "max_runs": 60, "pair_block": 1})
    paired = run_interleaved(slowed(0.004), slowed(0.010), protocol)
    assert len(paired.ratios) == 60
    assert np.allclose(paired.ratios, 0.4)
    assert paired.candidate.samples_ms.max() / paired.candidate.samples_ms.min() == 2.0
    summary = paired.summary("ref")
    assert summary["ratio"] == 0.4 and summary["interleaved"] and summary["pairs"] == 60


@pytest.mark.slow  # times each model alone 5 times; pairing is covered by the tests below
def test_interleaved_ratio_matches_separate_medians_and_is_cached(tmp_path):
    base, half = models()
    protocol = Protocol().with_overrides(PAIRS)
    meter = LatencyMeter(create_backend("ort-cpu", threads=1),
                         cache=LatencyCache(tmp_path / "c.sqlite"), protocol=protocol)
    # each alone, five times in alternation: the ms ratio as an idle machine gives it
    times = [(meter.measure(half, use_cache=False).median_ms,
              meter.measure(base, use_cache=False).median_ms) for _ in range(5)]
    alone = float(np.median([h for h, _ in times]) / np.median([b for _, b in times]))
    meter.use_reference(base)
    paired = meter.measure(half)
    assert paired.reference is not None and paired.reference["interleaved"]
    assert paired.reference["pairs"] >= 5 and paired.reference["arch_hash"] == meter.reference[0]
    assert 0.2 < paired.ratio < 0.9
    # Interleaving costs the smaller model more on a CPU than timing it alone (the other
    # model's weights evict its own from the caches): +10-20% idle, up to +60% with the
    # other core busy. That size is measured in benchmarks/latency_interleaved.py; here only
    # the direction, which a swapped or self-timed pair would break.
    assert alone < 1, (paired.ratio, alone)
    again = meter.measure(half)
    assert again.from_cache and again.ratio == paired.ratio
    assert not meter.measure(half, interleave=False).reference  # its own row, timed alone
    # the reference is never timed against itself: timed alone, its ratio is 1 by definition
    # (a search candidate that is the base unpruned is scored by the ratio like the others)
    itself = meter.measure(base)
    assert itself.ratio == 1.0 and itself.reference["pairs"] == 0
    assert not itself.reference["interleaved"]
    cached = meter.measure(base)
    assert cached.from_cache and cached.ratio == 1.0
    assert meter.measure(base, interleave=False).reference is None
    meter.close()


def test_server_times_candidate_and_reference_on_the_device(tmp_path):
    base, half = models()
    third = pruned_cfg(base, PruneSpec.uniform(0.75))
    agent = ServerProcess("--token", TOKEN)
    try:
        backend = create_backend("remote", url=agent.url, token=TOKEN)
        assert backend.server_info()["references"] >= 1
        meter = LatencyMeter(backend, cache=LatencyCache(tmp_path / "c.sqlite"),
                             protocol=Protocol().with_overrides(PAIRS))
        meter.use_reference(base)
        first, second = meter.measure(half), meter.measure(third)
        for result in (first, second):
            assert result.reference["interleaved"] and result.reference["pairs"] >= 5
            assert result.reference["arch_hash"] == meter.reference[0]
        assert 0.2 < first.ratio < second.ratio < 1.2
        assert len(backend._references) == 1  # the base went up once
        from edgeprune.latency.client import UnknownReference

        with pytest.raises(UnknownReference, match="POST /references"):
            backend.client.measure(b"\x08", (1, 3, 96, 96), "fp32", reference="0" * 64)
        meter.close()
    finally:
        agent.stop()


class OneModelAtATime(Backend):
    """ONNX Runtime on this CPU behind a backend that cannot hold two models (no `prepare`),
    as a device server of the first protocol version is."""

    name = "ort-cpu-one-at-a-time"
    precisions = ("fp32",)

    def __init__(self) -> None:
        self.inner = create_backend("ort-cpu", threads=1)

    def version(self) -> str:
        return self.inner.version()

    def _detect_identity(self):
        return self.inner.identity()

    def _measure(self, model_bytes, input_shape, precision, protocol):
        return self.inner.measure(model_bytes, input_shape, precision, protocol)


def test_backend_without_pairs_times_the_reference_before_and_after(tmp_path):
    base, half = models()
    meter = LatencyMeter(OneModelAtATime(), cache=LatencyCache(tmp_path / "c.sqlite"),
                         protocol=Protocol().with_overrides(PAIRS))
    meter.use_reference(base)
    result = meter.measure(half)
    assert result.reference["interleaved"] is False and result.reference["pairs"] == 0
    assert 0.1 < result.ratio < 1.0  # separate windows: as noisy as the machine is
    meter.close()
