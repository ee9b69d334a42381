"""`rlpruner`: RL-Pruner's learned distribution of the pruning budget over layers.

The policy is a distribution over the prunable channel groups, softmax(theta): group i gives
up the fraction c x G x share_i of its channels (G groups; a uniform distribution prunes every
group by c). The amount c is not learned: for each candidate it is set by bisection so that
the predicted latency (FLOPs through a line fitted to the latencies measured so far,
costs.LatencyFit) meets the target, so the policy only learns WHERE to prune.

Each round samples `samples_per_update` neighbours of the current distribution (theta plus
Gaussian noise; the first of each round is theta itself, which tracks progress and keeps
the latency fit calibrated near the policy), evaluates them, and updates theta with PPO:
several Adam steps on the clipped surrogate min(r A, clip(r, 1 - eps, 1 + eps) A), r the
ratio of new to old probability of each neighbour, A its reward normalized within the round.
The old probability is that of the theta a neighbour was sampled from, kept with it, so a
search round (the search's round size) that spans a PPO update still trains correctly.

Channel groups only, as in RL-Pruner (residual blocks are never dropped by this agent).
"""

from __future__ import annotations

import numpy as np
import torch

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import AgentContext, register_agent
from edgeprune.search.agents.common import Option, PolicyAgent
from edgeprune.search.agents.policy import normalized, one_thread, ppo_objective
from edgeprune.search.candidate import Candidate


@register_agent
class RLPrunerAgent(PolicyAgent):
    name = "rlpruner"
    OPTIONS = {
        "samples_per_update": Option(6, "neighbours evaluated per policy update (the first "
                                        "is the current distribution)", 2, 10000),
        "noise": Option(0.5, "std of the Gaussian perturbation of the distribution's logits",
                        0.01, 10.0),
        "lr": Option(0.1, "Adam learning rate of the logits", 0.0, 10.0),
        "epochs": Option(8, "PPO gradient steps per round", 1, 1000),
        "clip": Option(0.2, "PPO clip range eps", 0.01, 1.0),
    }

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self.positions = self.table.channel_positions
        self.theta = torch.zeros(len(self.positions), requires_grad=True)
        self.optimizer = torch.optim.Adam([self.theta], lr=self.options["lr"])
        self.proposals = 0
        # step -> (the logits its spec came from, the theta they were sampled around)
        self.pending: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self.batch: list[tuple[np.ndarray, torch.Tensor, float]] = []

    def _ratios(self, logits: np.ndarray) -> np.ndarray:
        """Per-decision keep ratios for a distribution, its amount fitted to the target."""
        lo, hi = self.table.lo, self.table.hi
        share = np.exp(logits - logits.max())
        share = share / share.sum() * len(share)  # 1 everywhere for the uniform distribution
        target_gflops = self.target_gflops()

        def keep(amount: float) -> np.ndarray:
            ratios = np.ones(len(self.table))
            ratios[self.positions] = np.clip(1 - amount * share, lo, hi)
            return ratios

        def gflops(amount: float) -> float:
            ratios = keep(amount)
            by_key = {self.table.decisions[p].index: self.table.snap(p, ratios[p])
                      for p in self.positions}
            return self.costs.gflops_of(self.costs.kept_channels(by_key, self.table.rules))

        low, high = 0.0, (1 - lo) / share.min()  # high: every group at its smallest
        if gflops(high) > target_gflops:
            return keep(high)
        for _ in range(30):
            mid = (low + high) / 2
            low, high = (low, mid) if gflops(mid) <= target_gflops else (mid, high)
        return keep(high)

    def _spec(self, logits: np.ndarray) -> PruneSpec:
        return self.table.to_spec(np.zeros(len(self.table), dtype=bool), self._ratios(logits))

    @one_thread
    def propose(self, step: int) -> PruneSpec:
        theta = self.theta.detach().double().numpy()
        if self.proposals % self.options["samples_per_update"] == 0:  # a PPO round's first
            logits = theta.copy()
        else:
            noise = torch.randn(len(theta), generator=self.torch_generator, dtype=torch.float64)
            logits = theta + self.options["noise"] * noise.numpy()
        self.proposals += 1
        self.pending[step] = (logits, self.theta.detach().clone())
        return self._spec(logits)

    @one_thread
    def observe(self, evaluation: Candidate) -> None:
        self.calibrate(evaluation)
        proposed = self.pending.pop(evaluation.step, None)
        if proposed is None:  # not proposed by this agent: it still calibrated the fit
            return
        logits, theta = proposed
        self.batch.append((logits, theta, self.reward_of(evaluation)))
        if len(self.batch) >= self.options["samples_per_update"]:
            self._update()

    def _update(self) -> None:
        samples = torch.tensor(np.array([x for x, _, _ in self.batch]), dtype=torch.float32)
        sampled_around = torch.stack([theta for _, theta, _ in self.batch])
        advantages = torch.tensor(normalized([r for _, _, r in self.batch]),
                                  dtype=torch.float32)
        self.batch = []
        if not advantages.any():
            return
        sigma = self.options["noise"]

        def log_prob(theta: torch.Tensor) -> torch.Tensor:
            return -((samples - theta) ** 2).sum(dim=1) / (2 * sigma ** 2)

        old = log_prob(sampled_around)
        for _ in range(self.options["epochs"]):
            objective = ppo_objective(log_prob(self.theta), old, advantages,
                                      self.options["clip"])
            self.optimizer.zero_grad()
            (-objective).backward()
            self.optimizer.step()

    @one_thread
    def best_guess(self) -> PruneSpec:
        return self._spec(self.theta.detach().double().numpy())
