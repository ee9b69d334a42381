"""Pieces every policy-gradient agent here shares: the action distribution over decisions,
moving averages of rewards, and the PPO objective.

Action distribution, per decision point (see actions.py):
- residual block: dropped with probability sigmoid(logit) (Bernoulli);
- channel group: keep ratio ~ Normal(mean, std), clipped to the run's ratio range and snapped to
  the channel grid (actions.py): the action is the bin, with the exact probability of the
  normal's mass over it, so a ratio read back from an evaluated spec has an exact
  log-probability (resume replays specs, not the samples that made them). Means live in the
  ratio range through a sigmoid, so their gradient never vanishes at the bounds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

from edgeprune.search.agents.actions import DecisionTable

F = TypeVar("F", bound=Callable)
STD_LIMITS = (0.02, 0.5)
_FAR = 10.0  # ratios live in (0, 1]; 10 is beyond any bin, at any allowed std


def one_thread(method: F) -> F:
    """Run with one torch thread: the policies' tensors are tiny, and handing each small op to
    a thread pool costs more than the op (10x slower on a busy 2-core machine). The caller's
    thread count is restored afterwards."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        if threads == 1:
            return method(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return method(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper  # type: ignore[return-value]


def ratio_mean(z: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.sigmoid(z)


def ratio_logit(ratio: float, lo: float, hi: float) -> float:
    """The pre-sigmoid value whose mean is `ratio` (kept off the bounds)."""
    share = min(max((ratio - lo) / (hi - lo), 0.02), 0.98)
    return math.log(share / (1 - share))


def drop_logit(probability: float) -> float:
    probability = min(max(probability, 1e-3), 1 - 1e-3)
    return math.log(probability / (1 - probability))


def binned_normal_log_prob(mean: torch.Tensor, std: torch.Tensor, lower: torch.Tensor,
                           upper: torch.Tensor) -> torch.Tensor:
    """log P(lower <= X < upper) for X ~ Normal(mean, std): the probability of a ratio bin."""
    # open ends made finite: an infinite z would turn the gradient into 0 x inf = nan
    lower, upper = lower.clamp(-_FAR, _FAR), upper.clamp(-_FAR, _FAR)
    mean, std = mean.double(), std.double()
    upper_mass = torch.special.ndtr((upper - mean) / std)
    lower_mass = torch.special.ndtr((lower - mean) / std)
    # the far tail of a bin below the mean is computed from the other side, where it is exact
    below = upper_mass - lower_mass
    above = torch.special.ndtr((mean - lower) / std) - torch.special.ndtr((mean - upper) / std)
    mass = torch.where(lower > mean, above, below)
    return torch.log(mass.clamp_min(1e-300)).float()


def normal_entropy(std: torch.Tensor) -> torch.Tensor:
    return 0.5 * math.log(2 * math.pi * math.e) + torch.log(std)


def bernoulli_log_prob(taken: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    return -torch.nn.functional.binary_cross_entropy_with_logits(logit, taken, reduction="none")


def bernoulli_entropy(logit: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logit)
    return torch.nn.functional.binary_cross_entropy_with_logits(logit, p, reduction="none")


def bounded_std(log_std: torch.Tensor) -> torch.Tensor:
    return torch.exp(log_std).clamp(*STD_LIMITS)


def sample_decisions(table: DecisionTable, logits: torch.Tensor, means: torch.Tensor,
                     std: torch.Tensor, generator: torch.Generator,
                     positions: np.ndarray | None = None,
                     drop: np.ndarray | None = None,
                     ratios: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample the decisions at `positions` (default: all) from per-decision block logits and
    ratio means; other entries of `drop`/`ratios` (default: keep everything) stay as given.
    Draws one uniform per block and one normal per channel group in `positions` whatever the
    outcome, so the generator advances the same way every time."""
    positions = np.arange(len(table)) if positions is None else np.asarray(positions)
    drop = np.zeros(len(table), dtype=bool) if drop is None else drop.copy()
    ratios = np.ones(len(table)) if ratios is None else ratios.copy()
    with torch.no_grad():
        uniform = torch.rand(len(positions), generator=generator, dtype=torch.float64).numpy()
        noise = torch.randn(len(positions), generator=generator, dtype=torch.float64).numpy()
        p_drop = torch.sigmoid(logits.detach()).double().numpy()
        mean = means.detach().double().numpy()
        spread = float(std.detach())
    for n, p in enumerate(positions):
        if table.is_block[p]:
            drop[p] = uniform[n] < p_drop[p]
        else:
            ratios[p] = table.snap(p, mean[p] + spread * noise[n])
    return drop, ratios


def decisions_log_prob(table: DecisionTable, logits: torch.Tensor, means: torch.Tensor,
                       std: torch.Tensor, drop: np.ndarray, ratios: np.ndarray,
                       positions: np.ndarray | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probability, entropy) of the decisions at `positions` (default: all). Channel
    groups removed with their block count for neither."""
    mask = np.zeros(len(table), dtype=bool)
    mask[np.arange(len(table)) if positions is None else np.asarray(positions)] = True
    blocks = torch.from_numpy(np.flatnonzero(mask & table.is_block))
    channels = torch.from_numpy(np.flatnonzero(mask & table.active_channels(drop)))
    taken = torch.from_numpy(drop.astype(np.float32))[blocks]
    chosen = [table.bins[p] for p in channels.tolist()]
    index = table.bin_indices(ratios, channels.numpy())
    lower = torch.tensor([b.lower[j] for b, j in zip(chosen, index, strict=True)],
                         dtype=torch.float64)
    upper = torch.tensor([b.upper[j] for b, j in zip(chosen, index, strict=True)],
                         dtype=torch.float64)
    log_prob = bernoulli_log_prob(taken, logits[blocks]).sum() + binned_normal_log_prob(
        means[channels], std, lower, upper).sum()
    entropy = bernoulli_entropy(logits[blocks]).sum() + normal_entropy(std) * len(channels)
    return log_prob, entropy


class RewardAverage:
    """Exponential moving average of rewards, and advantages scaled by the rewards' spread so
    that one learning rate works whatever the reward's units."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.value: float | None = None
        self.seen: list[float] = []

    def advantage(self, reward: float) -> float:
        """The advantage of `reward` over the average so far; then the average takes it in."""
        self.seen.append(reward)
        if self.value is None:
            self.value = reward
            return 0.0
        spread = float(np.std(self.seen))
        advantage = (reward - self.value) / spread if spread > 1e-12 else 0.0
        self.value = self.decay * self.value + (1 - self.decay) * reward
        return advantage


def normalized(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit spread (all zeros when the values do not differ)."""
    values = np.asarray(values, dtype=np.float64)
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-12 else np.zeros_like(values)


def ppo_objective(log_prob: torch.Tensor, old_log_prob: torch.Tensor,
                  advantages: torch.Tensor, clip: float) -> torch.Tensor:
    """PPO's clipped surrogate (to maximize): the policy ratio may not earn more than
    [1 - clip, 1 + clip] allows, so one batch cannot push the policy far."""
    ratio = torch.exp(log_prob - old_log_prob)
    return torch.minimum(ratio * advantages,
                         ratio.clamp(1 - clip, 1 + clip) * advantages).mean()
