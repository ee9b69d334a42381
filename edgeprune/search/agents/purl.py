"""`purl`: PuRL's layer-by-layer episodes with a reward at every step.

An episode walks the network in order and prunes it a stage at a time. Each step decides one
more stage (the decision points in network order are cut into `steps_per_episode` stages of
about equal FLOPs), and the candidate evaluated at that step is the partial spec so far:
decided stages pruned, later ones untouched. So every step earns its own reward (dense), and
the policy sees where the episode stands: its state is the decision point's features plus
the episode's progress, the latency and accuracy measured for the partial network after the
previous step (relative to the target and the base), and the share of FLOPs decided.

Stages rather than single layers: yolov3 has ~70 decision points and a search has a few dozen
candidates, so one layer per step would not finish a single episode. With the default 3
stages, a budget of 36 runs 12 episodes; `steps_per_episode 1` turns the dense reward off.

The reward of step t is the change it made: R(partial t) - R(partial t-1), R being the run's
reward of an evaluated candidate. This is potential-based shaping: over an episode the step
rewards add up to the final candidate's reward (up to the base's, a constant), so they
speed up credit assignment without changing what the best policy is. Using R(partial t)
itself would not do: a partial network keeps later stages whole, so it always misses the
final target, and the agent would learn to over-prune the early stages to make up for it.

Training: REINFORCE per step, the return of step t being the sum of the step rewards from t
to the end, R(final) - R(partial t-1) (its choices stay in every later partial network), its
advantage over a moving average of the returns seen at step t, advantages scaled by their spread;
entropy bonus. The policy is updated when an episode's last step has been observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import AgentContext, register_agent
from edgeprune.search.agents.common import (
    SAMPLING_OPTIONS,
    Option,
    SamplingAgent,
    init_parameters,
)
from edgeprune.search.agents.policy import (
    RewardAverage,
    bounded_std,
    decisions_log_prob,
    one_thread,
    ratio_mean,
    sample_decisions,
)
from edgeprune.search.candidate import Candidate

STATE_INPUTS = 4  # progress, log(cost / target), accuracy / base - 1, FLOPs share decided


@dataclass
class Episode:
    drop: np.ndarray
    ratios: np.ndarray
    proposed: int = 0  # steps proposed so far
    cost_ms: float = 0.0  # of the latest observed partial network
    accuracy: float = 0.0
    latest: int = -1  # stage index of the latest observation
    states: dict[int, np.ndarray] = field(default_factory=dict)  # stage -> state it was decided in
    centres: dict[int, float] = field(default_factory=dict)  # stage -> ratio_bias it used
    actions: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    rewards: dict[int, float] = field(default_factory=dict)


def stage_split(flops: np.ndarray, stages: int) -> list[np.ndarray]:
    """Consecutive decision positions cut into at most `stages` non-empty groups of about
    equal FLOPs."""
    share = np.cumsum(flops) - flops  # FLOPs before each decision
    total = flops.sum()
    index = np.minimum((share / total * stages).astype(int), stages - 1) if total > 0 \
        else np.arange(len(flops)) * stages // max(len(flops), 1)
    return [np.flatnonzero(index == k) for k in range(stages) if (index == k).any()]


@register_agent
class PuRLAgent(SamplingAgent):
    name = "purl"
    OPTIONS = {
        "steps_per_episode": Option(3, "stages per episode, each one candidate with its own "
                                       "reward (1: no dense reward)", 1, 1000),
        "hidden": Option(32, "hidden size of the policy network", 4, 1024),
        "lr": Option(0.01, "Adam learning rate of the policy", 0.0, 1.0),
        "average_decay": Option(0.8, "decay of the per-step moving averages of returns",
                                 0.0, 1.0),
        **SAMPLING_OPTIONS,
    }

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        opts = self.options
        self.stages = stage_split(self.features[:, 5].double().numpy(),
                                  min(opts["steps_per_episode"], len(self.table)))
        flops = self.features[:, 5].double().numpy()
        self.decided_share = [float(flops[np.concatenate(self.stages[:k])].sum() / flops.sum())
                              if k else 0.0 for k in range(len(self.stages))]
        hidden = opts["hidden"]
        self.policy = nn.Sequential(nn.Linear(self.features.shape[1] + STATE_INPUTS, hidden),
                                    nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                    nn.Linear(hidden, 2))
        init_parameters(self.policy, self.torch_generator)
        with torch.no_grad():
            self.policy[-1].weight.mul_(0.1)
        self.optimizer = torch.optim.Adam([*self.policy.parameters(), self.log_std],
                                          lr=opts["lr"])
        self.averages = [RewardAverage(opts["average_decay"]) for _ in self.stages]
        self.episode: Episode | None = None
        self.pending: dict[int, tuple[Episode, int]] = {}  # step -> (episode, stage)

    def _heads(self, state: np.ndarray, positions: np.ndarray, ratio_bias: float):
        """Block logits and ratio means over all decisions (only `positions` computed)."""
        rows = torch.cat([self.features[positions],
                          torch.from_numpy(state).float().expand(len(positions), -1)], dim=1)
        out = self.policy(rows)
        logits = torch.zeros(len(self.table)).index_put((torch.from_numpy(positions),),
                                                        out[:, 0] + self.drop_bias)
        means = torch.full((len(self.table),), self.table.hi).index_put(
            (torch.from_numpy(positions),),
            ratio_mean(out[:, 1] + ratio_bias, self.table.lo, self.table.hi))
        return logits, means

    def _state(self, episode: Episode, stage: int) -> np.ndarray:
        ctx = self.context
        accuracy = episode.accuracy / ctx.base_accuracy - 1 if ctx.base_accuracy > 0 else 0.0
        return np.array([stage / len(self.stages), np.log(episode.cost_ms / ctx.target_ms),
                         accuracy, self.decided_share[stage]], dtype=np.float32)

    @one_thread
    def propose(self, step: int) -> PruneSpec:
        episode = self.episode
        if episode is None or episode.proposed == len(self.stages):
            episode = self.episode = Episode(
                np.zeros(len(self.table), dtype=bool), np.ones(len(self.table)),
                cost_ms=self.context.base_latency_ms, accuracy=self.context.base_accuracy)
        stage = episode.proposed
        state = self._state(episode, stage)
        positions = self.stages[stage]
        with torch.no_grad():
            logits, means = self._heads(state, positions, self.ratio_bias)
            episode.drop, episode.ratios = sample_decisions(
                self.table, logits, means, bounded_std(self.log_std), self.torch_generator,
                positions, episode.drop, episode.ratios)
        episode.states[stage] = state
        episode.centres[stage] = self.ratio_bias
        episode.proposed += 1
        self.pending[step] = (episode, stage)
        return self.table.to_spec(episode.drop, episode.ratios)

    @one_thread
    def observe(self, evaluation: Candidate) -> None:
        if evaluation.step not in self.pending:  # not proposed by this agent: nothing to learn
            return
        episode, stage = self.pending.pop(evaluation.step)
        episode.rewards[stage] = self.reward_of(evaluation)
        episode.actions[stage] = self.table.from_spec(evaluation.spec)
        if stage > episode.latest:
            episode.latest = stage
            episode.cost_ms = max(self.cost_ms(evaluation), 1e-6)
            episode.accuracy = evaluation.accuracy
        if len(episode.rewards) == len(self.stages):
            self._learn(episode)
        self.calibrate(evaluation)

    def _learn(self, episode: Episode) -> None:
        rewards = [episode.rewards[k] for k in range(len(self.stages))]
        returns = [rewards[-1] - (rewards[t - 1] if t else 0.0) for t in range(len(rewards))]
        advantages = [average.advantage(float(g))
                      for average, g in zip(self.averages, returns, strict=True)]
        if not any(advantages):
            return
        std = bounded_std(self.log_std)
        loss = torch.zeros(())
        for stage, advantage in enumerate(advantages):
            drop, ratios = episode.actions[stage]
            # under the centre the stage was sampled with: only the learned part is trained
            logits, means = self._heads(episode.states[stage], self.stages[stage],
                                        episode.centres[stage])
            log_prob, entropy = decisions_log_prob(self.table, logits, means, std, drop, ratios,
                                                   self.stages[stage])
            loss = loss - advantage * log_prob - self.options["entropy"] * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
