"""How a latency is measured: warm up, time until the median is known well enough, re-measure
when the spread is too high.

Backends only know how to time one inference (`timed_call() -> seconds`); this module decides
how many, so every backend, local or on a robot, follows the same protocol. The median's
confidence interval comes from order statistics (distribution-free: latency samples are skewed
and have outliers, so a normal approximation around the mean would mislead).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from edgeprune.errors import EdgepruneError

MIN_SAMPLES = 5  # even a model slower than max_seconds / 5 gets this many timed runs
EXACT_CI_LIMIT = 1000  # above this many samples the median CI uses the normal approximation

# Called between runs; raises MeasurementCancelled to stop. A context variable, not a parameter,
# so every backend's timing loop honours it without each backend passing it along.
_stop_check: ContextVar[Callable[[], None] | None] = ContextVar("stop_check", default=None)


@contextlib.contextmanager
def stop_checked(check: Callable[[], None]) -> Iterator[None]:
    """Within this block `run_protocol` calls `check()` before every run (warm-up and timed);
    `check` raises (edgeprune.errors.MeasurementCancelled) to stop the measurement there."""
    token = _stop_check.set(check)
    try:
        yield
    finally:
        _stop_check.reset(token)


@dataclass(frozen=True)
class Protocol:
    """Measurement protocol; every field can be overridden (CLI, device profile, server query).

    Warm-up lasts at least `warmup_runs` runs and at least `warmup_seconds`. Timed runs then
    go on until the half-width of the median's `ci_level` confidence interval is at most
    `target_rel_ci` of the median (checked every `check_every` runs after `min_runs`), or
    `max_runs` runs, or `max_seconds` of timing (a hard cap once 5 runs are in, so a slow
    model on a slow device cannot hold it for long). An attempt whose coefficient of variation is
    above `max_cv` is repeated, up to `max_remeasures` times; the attempt with the lowest
    spread is kept. Every `drift_every` fresh measurements the meter re-times a reference
    model and flags drift beyond `drift_tolerance` (0 turns the check off).

    Interleaved timing (run_interleaved) times pairs: a block of `pair_block` runs of the
    candidate then as many of the reference, each side's sample the mean of its block after
    the first run (see _paired_attempt for why blocks); the run counts above count the runs
    of each model, so a pair is `pair_block` of them.
    """

    warmup_runs: int = 10
    warmup_seconds: float = 0.5
    min_runs: int = 20
    max_runs: int = 500
    max_seconds: float = 20.0
    check_every: int = 10
    ci_level: float = 0.95
    target_rel_ci: float = 0.02
    max_cv: float = 0.15
    max_remeasures: int = 2
    drift_every: int = 25
    drift_tolerance: float = 0.10
    pair_block: int = 8

    def __post_init__(self) -> None:
        problems = [f"{item.name} must be a finite number, got {getattr(self, item.name)}"
                    for item in dataclasses.fields(self)
                    if not math.isfinite(getattr(self, item.name))]
        if problems:  # nan compares false with everything: the checks below would pass it
            raise EdgepruneError("latency protocol: " + "; ".join(problems))
        for name in ("warmup_runs", "max_remeasures", "drift_every"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("min_runs", "max_runs", "check_every", "pair_block"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("warmup_seconds", "max_seconds", "target_rel_ci", "max_cv",
                     "drift_tolerance"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if not 0 < self.ci_level < 1:
            problems.append("ci_level must be between 0 and 1")
        if self.min_runs > self.max_runs:
            problems.append(f"min_runs ({self.min_runs}) exceeds max_runs ({self.max_runs})")
        if problems:
            raise EdgepruneError("latency protocol: " + "; ".join(problems))

    def with_overrides(self, overrides: dict | None, source: str = "protocol") -> Protocol:
        """A copy with `overrides` applied; unknown names and wrong types are errors."""
        if not overrides:
            return self
        fields = {f.name: f for f in dataclasses.fields(self)}
        values = {}
        for name, value in overrides.items():
            if name not in fields:
                raise EdgepruneError(f"{source}: unknown protocol field {name!r} (known: "
                                     f"{', '.join(fields)})")
            kind = int if isinstance(getattr(self, name), int) else float
            try:
                if isinstance(value, bool) or (kind is int and float(value) != int(value)):
                    raise ValueError
                values[name] = kind(value)
            except (TypeError, ValueError):
                raise EdgepruneError(f"{source}: protocol field {name} expects "
                                     f"{'an integer' if kind is int else 'a number'}, "
                                     f"got {value!r}") from None
        return dataclasses.replace(self, **values)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def longest_timing_s(self, interleaved: bool = False) -> float:
        """The longest this protocol may warm up and time a model whose runs are short: every
        attempt's warm-up and timing cap (twice the cap for interleaved pairs). Slow runs
        (a run of more than max_seconds / 5) can take longer; a device server's deadline
        catches those."""
        sides = 2 if interleaved else 1
        return (self.max_remeasures + 1) * (self.warmup_seconds + sides * self.max_seconds)


@dataclass(frozen=True)
class Timing:
    """The samples of the kept attempt and what it took to get them."""

    samples_ms: np.ndarray
    warmup_runs: int
    warmup_s: float
    remeasures: int
    ci_level: float
    seconds: float  # every attempt's warm-up and timed runs (LatencyResult.timing_s)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.samples_ms))

    def stats(self) -> dict:
        """The LatencyResult statistics fields of these samples."""
        samples = self.samples_ms
        mean = float(samples.mean())
        std = float(samples.std(ddof=1)) if len(samples) > 1 else 0.0
        low, high = median_ci(samples, self.ci_level)
        return {"median_ms": self.median_ms, "p90_ms": float(np.percentile(samples, 90)),
                "mean_ms": mean, "std_ms": std, "cv": std / mean if mean > 0 else 0.0,
                "runs": int(len(samples)), "median_ci_ms": (low, high),
                "ci_level": self.ci_level, "warmup_runs": self.warmup_runs,
                "warmup_s": self.warmup_s, "remeasures": self.remeasures}


def median_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics.

    With n samples, the number below the true median is Binomial(n, 1/2); the interval
    [x_(k), x_(n-k+1)] (1-based) covers the median with probability 1 - 2 P(B < k), so k is
    the largest rank with P(B < k) <= (1 - level) / 2.
    """
    ordered = np.sort(np.asarray(samples, dtype=float))
    n = len(ordered)
    if n == 0:
        return (0.0, 0.0)
    alpha_half = (1 - level) / 2
    if n > EXACT_CI_LIMIT:  # the binomial is normal to well within one rank here
        z = NormalDist().inv_cdf(1 - alpha_half)
        k = max(1, math.floor(n / 2 - z * math.sqrt(n) / 2))
        return (float(ordered[k - 1]), float(ordered[n - k]))
    total = 2 ** n
    cumulative = 0  # sum of C(n, i) for i < k, exact integers
    k = 0
    while k < n:
        step = math.comb(n, k)
        if (cumulative + step) / total > alpha_half:
            break
        cumulative += step
        k += 1
    if k == 0:  # too few samples for this level: the interval is the whole range
        return (float(ordered[0]), float(ordered[-1]))
    return (float(ordered[k - 1]), float(ordered[n - k]))


def relative_ci(samples: np.ndarray, level: float) -> float:
    low, high = median_ci(samples, level)
    median = float(np.median(samples))
    return (high - low) / 2 / median if median > 0 else math.inf


def _cv(samples: np.ndarray) -> float:
    mean = float(samples.mean())
    return float(samples.std(ddof=1)) / mean if len(samples) > 1 and mean > 0 else 0.0


def _attempt(timed_call: Callable[[], float], protocol: Protocol) -> tuple[np.ndarray, int,
                                                                          float]:
    clock = time.perf_counter
    check = _stop_check.get() or _never_stop
    start = clock()
    warmup = 0
    while warmup < protocol.warmup_runs or clock() - start < protocol.warmup_seconds:
        check()
        timed_call()
        warmup += 1
    warmup_s = clock() - start
    samples: list[float] = []
    start = clock()
    while True:
        check()
        samples.append(timed_call() * 1000.0)
        n = len(samples)
        if n >= protocol.max_runs:
            break
        if clock() - start >= protocol.max_seconds and n >= MIN_SAMPLES:
            break
        if n < protocol.min_runs:
            continue
        if (n - protocol.min_runs) % protocol.check_every == 0 and \
                relative_ci(np.asarray(samples), protocol.ci_level) <= protocol.target_rel_ci:
            break
    return np.asarray(samples), warmup, warmup_s


def _never_stop() -> None:
    return None


def run_protocol(timed_call: Callable[[], float], protocol: Protocol) -> Timing:
    """Time `timed_call` (one inference, returning its duration in seconds) by `protocol`."""
    started = time.perf_counter()
    best: np.ndarray | None = None
    warmup_total = 0
    warmup_seconds = 0.0
    remeasures = -1
    while remeasures < protocol.max_remeasures:
        remeasures += 1
        samples, warmup, warmup_s = _attempt(timed_call, protocol)
        warmup_total += warmup
        warmup_seconds += warmup_s
        if best is None or _cv(samples) < _cv(best):
            best = samples
        if _cv(samples) <= protocol.max_cv:
            break
    return Timing(samples_ms=best, warmup_runs=warmup_total, warmup_s=warmup_seconds,
                  remeasures=remeasures, ci_level=protocol.ci_level,
                  seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class PairedTiming:
    """A candidate timed interleaved with a reference model in the same window.

    `ratios` holds one candidate/reference ratio per pair of adjacent runs: whatever slows
    the device down for a while (another process on the CPU, a throttling Jetson) slows both
    runs of a pair, so their ratio keeps what the candidate costs relative to the reference
    while the milliseconds drift.
    """

    candidate: Timing
    reference: Timing
    ratios: np.ndarray
    interleaved: bool = True  # False: reference before and after, in separate windows

    @property
    def ratio(self) -> float:
        return float(np.median(self.ratios))

    def summary(self, reference_hash: str | None = None) -> dict:
        """The `reference` entry of the candidate's LatencyResult."""
        low, high = median_ci(self.ratios, self.candidate.ci_level)
        return {"arch_hash": reference_hash, "median_ms": self.reference.median_ms,
                "ratio": self.ratio, "ratio_ci": [float(low), float(high)],
                "ratio_cv": _cv(self.ratios), "pairs": int(len(self.ratios)),
                "interleaved": self.interleaved}


def _block_ms(call: Callable[[], float], runs: int) -> float:
    """Mean ms of `runs` calls after the first one (the model switch's cold run)."""
    if runs == 1:
        return call() * 1000.0
    call()
    return float(np.mean([call() for _ in range(runs - 1)])) * 1000.0


def _paired_attempt(candidate: Callable[[], float], reference: Callable[[], float],
                    protocol: Protocol) -> tuple[np.ndarray, np.ndarray, int, float]:
    clock = time.perf_counter
    check = _stop_check.get() or _never_stop
    start = clock()
    warmup = 0
    while warmup < protocol.warmup_runs or clock() - start < protocol.warmup_seconds:
        check()
        reference()
        candidate()
        warmup += 1
    warmup_s = clock() - start
    ours: list[float] = []
    theirs: list[float] = []
    start = clock()
    while True:
        check()
        # Blocks, not single runs: on a CPU a model run right after the other one finds its
        # weights evicted from the caches, which inflated a small candidate's ratio by 30-40%
        # against timing each alone (yolov3 w0.25 vs its 0.5 prune, 96 px, 1 thread, EPYC);
        # with blocks of 8 and the switch's first run dropped it came within ~10%. The order
        # alternates so neither side always runs first.
        if len(ours) % 2:
            theirs.append(_block_ms(reference, protocol.pair_block))
            ours.append(_block_ms(candidate, protocol.pair_block))
        else:
            ours.append(_block_ms(candidate, protocol.pair_block))
            theirs.append(_block_ms(reference, protocol.pair_block))
        # run counts (min_runs, max_runs, check_every) are runs of each model, as for a
        # plain measurement; a block is pair_block of them
        n = len(ours)
        runs = n * protocol.pair_block
        if runs >= protocol.max_runs:
            break
        if clock() - start >= 2 * protocol.max_seconds and n >= MIN_SAMPLES:
            break
        if runs < protocol.min_runs or n < MIN_SAMPLES:
            continue
        ratios = np.asarray(ours) / np.asarray(theirs)
        if n % max(1, protocol.check_every // protocol.pair_block) == 0 and \
                relative_ci(ratios, protocol.ci_level) <= protocol.target_rel_ci:
            break
    return np.asarray(ours), np.asarray(theirs), warmup, warmup_s


def run_interleaved(candidate: Callable[[], float], reference: Callable[[], float],
                    protocol: Protocol) -> PairedTiming:
    """Time `candidate` and `reference` (each one inference, returning seconds) in
    alternation by `protocol`: warm-up of both, then pairs until the median ratio is known to
    `target_rel_ci` (or `max_runs` pairs, or twice `max_seconds`, both models being timed);
    an attempt whose ratios spread beyond `max_cv` is repeated like a plain measurement."""
    started = time.perf_counter()
    best = None
    warmup_total, warmup_seconds, remeasures = 0, 0.0, -1
    while remeasures < protocol.max_remeasures:
        remeasures += 1
        ours, theirs, warmup, warmup_s = _paired_attempt(candidate, reference, protocol)
        warmup_total += warmup
        warmup_seconds += warmup_s
        spread = _cv(ours / theirs)
        if best is None or spread < _cv(best[0] / best[1]):
            best = (ours, theirs)
        if spread <= protocol.max_cv:
            break
    ours, theirs = best
    seconds = time.perf_counter() - started  # one window for both models

    def timing(samples: np.ndarray) -> Timing:
        return Timing(samples_ms=samples, warmup_runs=warmup_total, warmup_s=warmup_seconds,
                      remeasures=remeasures, ci_level=protocol.ci_level, seconds=seconds)

    return PairedTiming(timing(ours), timing(theirs), ours / theirs)
