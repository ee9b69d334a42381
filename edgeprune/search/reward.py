"""The search's reward: accuracy traded against measured latency relative to a target.

Two forms, chosen with `--reward`:

- `hard` (a budget; the default): a candidate that meets the target scores its accuracy; one
  that misses it scores `-penalty x (latency / target - 1)`, always below every feasible
  candidate (accuracy is >= 0) and still ordered by how far it misses, so an agent that has
  found nothing feasible yet is pulled towards the target instead of seeing a flat floor.
- `soft` (MnasNet, Tan et al. 2019): `accuracy x (latency / target) ** w`, with `w = alpha`
  when the latency meets the target and `w = beta` when it does not. The defaults alpha = 0,
  beta = -0.5 give no bonus for being faster than needed and a smooth, firm price for being
  slower (10% over the target costs 4.7% of the accuracy, 2x over costs 29%). MnasNet's own
  soft pair, alpha = beta = -0.07, is much gentler: a candidate 2x over the target then loses
  only 5%, which on a latency budget mostly picks infeasible networks.

`hard` is the default because the target is a budget: with an accuracy proxy that tells
networks apart, a network 10% over the target is often a few points more accurate, so any
soft price an agent can pay with accuracy pays it to leave the target (the demo's search
with `soft` spent its last 11 candidates over the target). The agents keep most proposals
within the target by aiming their centre below it (agents/common.py).

`feasible` is the same in both: measured median latency <= target x (1 + tolerance).

The FLOPs variant (what the `flops` baseline learns from) is the same formula with the
latency replaced by `base_latency_ms x gflops / base_gflops`: the latency the candidate would
have if latency were proportional to FLOPs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from edgeprune.errors import EdgepruneError

REWARD_KINDS = ("soft", "hard")


@dataclass(frozen=True)
class RewardConfig:
    kind: Literal["soft", "hard"] = "hard"
    alpha: float = 0.0  # soft: exponent when the latency meets the target
    beta: float = -0.5  # soft: exponent when it does not
    penalty: float = 1.0  # hard: reward lost per unit of relative miss
    tolerance: float = 0.0  # a latency up to target x (1 + tolerance) counts as meeting it

    def __post_init__(self) -> None:
        if self.kind not in REWARD_KINDS:
            raise EdgepruneError(f"unknown reward {self.kind!r} (rewards: "
                                 f"{', '.join(REWARD_KINDS)})")
        if self.beta > 0:
            raise EdgepruneError(f"reward beta must be <= 0 (a slower candidate must not score "
                                 f"higher), got {self.beta}")
        if self.penalty <= 0:
            raise EdgepruneError(f"hard reward penalty must be positive, got {self.penalty}")
        if self.tolerance < 0:
            raise EdgepruneError(f"latency tolerance must be >= 0, got {self.tolerance}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RewardConfig:
        return cls(**data)

    def describe(self) -> str:
        if self.kind == "hard":
            return (f"hard: accuracy if latency <= target, else -{self.penalty:g} x "
                    f"(latency/target - 1)")
        return (f"soft: accuracy x (latency/target)^w, w = {self.alpha:g} within the target, "
                f"{self.beta:g} over it")


def meets_target(latency_ms: float, target_ms: float, config: RewardConfig) -> bool:
    return latency_ms <= target_ms * (1 + config.tolerance)


def reward(accuracy: float, latency_ms: float, target_ms: float, config: RewardConfig) -> float:
    """The reward of a candidate with `accuracy` (>= 0) and `latency_ms` against `target_ms`."""
    if target_ms <= 0 or latency_ms <= 0:
        raise EdgepruneError(f"reward needs positive latencies, got latency {latency_ms} ms, "
                             f"target {target_ms} ms")
    feasible = meets_target(latency_ms, target_ms, config)
    ratio = latency_ms / target_ms
    if config.kind == "hard":
        return accuracy if feasible else -config.penalty * (ratio - 1)
    return accuracy * ratio ** (config.alpha if feasible else config.beta)


def flops_cost_ms(gflops: float, base_gflops: float, base_latency_ms: float) -> float:
    """The latency a candidate would have if latency were proportional to FLOPs."""
    return base_latency_ms * gflops / base_gflops
