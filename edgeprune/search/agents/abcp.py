"""`abcp`: ABCP's LSTM controller (Automatic Block-wise and Channel-wise Pruning).

One episode is one candidate. The controller walks the decision points in network order; at
each it reads the point's features and its own previous action, and outputs either a drop
probability (residual block, Bernoulli) or the mean of a keep ratio (channel group, Gaussian
clipped to the ratio range, one learned spread). Block and channel choices are sampled
jointly in one sequence, so a later layer's ratio can depend on earlier drops. Training is
REINFORCE on the candidate's reward with an exponential moving average of rewards (advantages
scaled by the spread of rewards seen) and an entropy bonus that keeps it exploring. A round of
several candidates (the search's round size) is sampled from one policy and makes one update,
the mean of its candidates' REINFORCE terms; each candidate's log-probability is taken under
the centre it was sampled with.

Sized for a few dozen episodes: the drop probabilities start at `drop_init` and the ratio
means at the centre, the uniform ratio predicted to meet the target (common.py), with
near-zero output weights, so the first candidates are sensible and every update moves them
from there. The centre is refitted to the measured latencies after every evaluation; the
controller's outputs are offsets from it.
"""

from __future__ import annotations

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
)
from edgeprune.search.candidate import Candidate

ACTION_INPUTS = 3  # previous action: dropped block, ratio offset from the centre, skipped group


class Controller(nn.Module):
    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Linear(features + ACTION_INPUTS, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.drop_head = nn.Linear(hidden, 1)
        self.ratio_head = nn.Linear(hidden, 1)


@register_agent
class ABCPAgent(SamplingAgent):
    name = "abcp"
    OPTIONS = {
        "hidden": Option(64, "LSTM hidden size", 4, 1024),
        "lr": Option(0.01, "Adam learning rate of the controller", 0.0, 1.0),
        "average_decay": Option(0.8, "decay of the moving average of rewards", 0.0, 1.0),
        **SAMPLING_OPTIONS,
    }

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        opts = self.options
        self.controller = Controller(self.features.shape[1], opts["hidden"])
        init_parameters(self.controller, self.torch_generator)
        with torch.no_grad():  # outputs start at the prior, then learn
            for head in (self.controller.drop_head, self.controller.ratio_head):
                head.weight.mul_(0.1)
        self.optimizer = torch.optim.Adam([*self.controller.parameters(), self.log_std],
                                          lr=opts["lr"])
        self.average = RewardAverage(opts["average_decay"])
        self.pending: dict[int, tuple[float, float]] = {}  # step -> (centre, ratio_bias) used
        self.round: list[tuple[PruneSpec, float, tuple[float, float]]] = []  # to learn from

    # --------------------------------------------------------------------------- controller

    def _unroll(self, actions: tuple[np.ndarray, np.ndarray] | None, mode: str = "sample",
                centre: tuple[float, float] | None = None):
        """Walk the decisions. `actions` given: teacher-forced (for the log-probability of an
        evaluated spec); else choose by `mode`: "sample" or "mode" (most likely action).
        `centre`: the (centre, ratio_bias) to walk under, default the current one.
        Returns (drop, ratios, logits, means) with logits/means as tensors over decisions."""
        table, net = self.table, self.controller
        centre_ratio, ratio_bias = centre or (self.centre, self.ratio_bias)
        lo, hi = table.lo, table.hi
        std = bounded_std(self.log_std)
        drop = np.zeros(len(table), dtype=bool)
        ratios = np.ones(len(table))
        logits, means = [torch.zeros(())] * len(table), [torch.zeros(())] * len(table)
        hidden = cell = torch.zeros(1, net.cell.hidden_size)
        previous = torch.zeros(ACTION_INPUTS)
        for p in range(len(table)):
            owner = table.owner[p]
            if not table.is_block[p] and owner >= 0 and drop[owner]:
                previous = torch.tensor([0.0, 0.0, 1.0])  # removed with its block: no choice
                continue
            step_in = torch.tanh(net.embed(torch.cat([self.features[p], previous])))
            hidden, cell = net.cell(step_in[None], (hidden, cell))
            if table.is_block[p]:
                logits[p] = net.drop_head(hidden)[0, 0] + self.drop_bias
                if actions is not None:
                    drop[p] = actions[0][p]
                elif mode == "sample":
                    draw = torch.rand((), generator=self.torch_generator)
                    drop[p] = bool(draw < torch.sigmoid(logits[p].detach()))
                else:
                    drop[p] = bool(logits[p] > 0)
                previous = torch.tensor([float(drop[p]), 0.0, 0.0])
            else:
                means[p] = ratio_mean(net.ratio_head(hidden)[0, 0] + ratio_bias, lo, hi)
                if actions is not None:
                    ratios[p] = actions[1][p]
                elif mode == "sample":
                    noise = torch.randn((), generator=self.torch_generator)
                    ratios[p] = table.snap(p, float(means[p].detach() + std.detach() * noise))
                else:
                    ratios[p] = table.snap(p, float(means[p].detach()))
                previous = torch.tensor([0.0, float(ratios[p]) - centre_ratio, 0.0])
        return drop, ratios, torch.stack(logits), torch.stack(means)

    # -------------------------------------------------------------------------- ask / tell

    @one_thread
    def propose(self, step: int) -> PruneSpec:
        with torch.no_grad():
            drop, ratios, _, _ = self._unroll(None)
        self.pending[step] = (self.centre, self.ratio_bias)
        return self.table.to_spec(drop, ratios)

    @one_thread
    def observe(self, evaluation: Candidate) -> None:
        centre = self.pending.pop(evaluation.step, (self.centre, self.ratio_bias))
        advantage = self.average.advantage(self.reward_of(evaluation))
        if advantage != 0.0:  # 0: the first reward, or no spread yet: nothing to learn from
            self.round.append((evaluation.spec, advantage, centre))
        self.calibrate(evaluation)
        if not self.pending:  # the round is complete: one update from all of it
            self._learn(self.round)
            self.round = []

    def _learn(self, samples: list[tuple[PruneSpec, float, tuple[float, float]]]) -> None:
        if not samples:
            return
        std = bounded_std(self.log_std)
        terms = []
        for spec, advantage, centre in samples:
            actions = self.table.from_spec(spec)
            drop, ratios, logits, means = self._unroll(actions, centre=centre)
            log_prob, entropy = decisions_log_prob(self.table, logits, means, std, drop, ratios)
            terms.append(-(advantage * log_prob + self.options["entropy"] * entropy))
        loss = terms[0] if len(terms) == 1 else torch.stack(terms).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    @one_thread
    def best_guess(self) -> PruneSpec:
        with torch.no_grad():
            drop, ratios, _, _ = self._unroll(None, mode="mode")
        return self.table.to_spec(drop, ratios)
