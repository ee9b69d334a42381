"""Scoring a candidate against the target: the latency the search compares, the reward (and the
FLOPs reward the `flops` baseline agent learns from), feasibility, and whether the
measurement was noisy. The loop proposes, evaluates, records and learns; this module decides
what a measured candidate is worth."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import LatencyResult
from edgeprune.search.candidate import Candidate
from edgeprune.search.measured_base import MeasuredBase
from edgeprune.search.reward import RewardConfig, flops_cost_ms, meets_target, reward

NOISY_RATIO_CI = 0.05  # half-width of the ratio's CI, relative, above which it is flagged


@dataclass(frozen=True)
class Score:
    """What the loop writes into a candidate's record besides what the environment measured."""

    latency_ms: float  # measured (ratio x the base's), or the model's prediction
    reward: float
    flops_reward: float
    feasible: bool
    measured_ms: float | None  # None: predicted
    latency_ratio: float | None
    noise: str | None

    def fields(self) -> dict:
        return {"latency_ms": self.latency_ms, "reward": self.reward,
                "flops_reward": self.flops_reward, "feasible": self.feasible,
                "measured_ms": self.measured_ms, "latency_ratio": self.latency_ratio,
                "noise": self.noise}


def score(measured: Candidate, base: MeasuredBase, config: RewardConfig,
          protocol: Protocol) -> Score:
    """The score of `measured` (the environment's candidate: accuracy, latency JSON or the
    latency model's prediction, GFLOPs) against the search's target."""
    target = base.target_ms
    flops_ms = flops_cost_ms(measured.gflops, base.gflops, base.latency_ms)
    if measured.latency_predicted:
        latency_ms, measured_ms, ratio, noise = measured.prediction["ms"], None, None, None
    else:
        latency = LatencyResult.from_json(measured.latency)
        latency_ms, measured_ms = relative_ms(latency, base.latency_ms), latency.median_ms
        ratio, noise = latency.ratio, measurement_noise(latency, protocol)
    return Score(latency_ms=latency_ms,
                 reward=reward(measured.accuracy, latency_ms, target, config),
                 flops_reward=reward(measured.accuracy, flops_ms, target, config),
                 feasible=meets_target(latency_ms, target, config),
                 measured_ms=measured_ms, latency_ratio=ratio, noise=noise)


def relative_ms(result: LatencyResult, base_ms: float) -> float:
    """The latency the search compares: the ratio to the base timed in the same window times
    the base's latency at the search's start (drift-corrected), else the measured median."""
    return result.ratio * base_ms if result.ratio is not None else result.median_ms


def relative_ms_interval(result: LatencyResult, base: MeasuredBase) -> tuple[float, float]:
    """The interval of `relative_ms`: the ratio's interval times the base's (both 95%), so
    a report shows how well each millisecond is known; a candidate timed alone has its own
    median's interval."""
    if result.ratio is None or not result.reference:
        return tuple(result.median_ci_ms)
    low, high = result.reference.get("ratio_ci") or (result.ratio, result.ratio)
    base_low, base_high = base.latency_ci_ms
    return float(low) * base_low, float(high) * base_high


def measurement_noise(result: LatencyResult, protocol: Protocol) -> str | None:
    """Why a measurement is suspect, or None: re-taken because its spread was above the
    protocol's max_cv, or a ratio to the base known only to more than 5%."""
    reasons = []
    if result.remeasures:
        reasons.append(f"re-measured {result.remeasures}x (cv {result.cv:.2f} > "
                       f"{protocol.max_cv:g})" if result.cv > protocol.max_cv
                       else f"re-measured {result.remeasures}x")
    if result.reference and result.ratio:
        low, high = result.reference.get("ratio_ci", (result.ratio, result.ratio))
        spread = (high - low) / 2 / result.ratio
        if spread > NOISY_RATIO_CI:
            reasons.append(f"ratio to the base +-{spread:.0%}")
    return "; ".join(reasons) or None
