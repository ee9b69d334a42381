"""What the learning agents (`abcp`, `flops`, `purl`, `rlpruner`, `gcn`) have in common:
declared options, the decision table and cost model, and where their first proposals start.

Centre: the policies sample around the uniform keep ratio whose cost is predicted to meet
the target (blocks counted at their initial drop probability), the calibrated form of
"keep ratio ~ sqrt(target / base latency)": with a few dozen candidates there is no budget for
first finding the right order of magnitude. The prediction is a line, latency = a + b x
GFLOPs, fitted to every latency the run has measured (costs.LatencyFit); before the first
measurement latency is taken as proportional to FLOPs. Measured latency is NOT proportional to
FLOPs (on ONNX Runtime CPU, yolov3 at a quarter of its FLOPs runs at 40% of its latency,
benchmarks/prune_speedup.md), so a centre fixed from FLOPs would keep every proposal over
the target; refitted after every evaluation (a function of the observations, so replay
rebuilds it), the centre follows the device, and the learned part of the policy only has to
learn where to prune more or less than the centre. For the `flops` agent the cost is FLOPs,
so the line stays proportional: it sees exactly what its reward sees.

Aim: proposals spread around the centre, so a centre exactly at the target puts half of them
over it, where the reward pays nothing for their accuracy. The centre therefore aims at
`aim x target`, and `aim` follows the share of the recent candidates that met the target: below
`feasible_share` it moves down, above it back up towards 1 (a step of `aim_step` in log space
per candidate, clipped to [0.6, 1]); a function of the observations, so replay rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from edgeprune.deprecation import warn_deprecated
from edgeprune.errors import EdgepruneError
from edgeprune.search.agents.actions import DecisionTable
from edgeprune.search.agents.base import AgentContext, SearchAgent
from edgeprune.search.agents.costs import CostModel, LatencyFit
from edgeprune.search.agents.features import decision_features
from edgeprune.search.agents.policy import drop_logit, ratio_logit
from edgeprune.search.candidate import Candidate

_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number"}


@dataclass(frozen=True)
class Option:
    """An agent setting that `AgentContext.options` may override (typed by its default)."""

    default: float | int | bool
    help: str
    low: float | None = None
    high: float | None = None


# What every agent that samples drop flags and keep ratios from a policy (abcp, purl, gcn)
# lets a user set the same way.
SAMPLING_OPTIONS = {
    "entropy": Option(0.01, "weight of the entropy bonus", 0.0, 10.0),
    "drop_init": Option(0.1, "initial drop probability of every residual block", 0.0, 1.0),
    "ratio_std": Option(0.1, "initial spread (std) of the keep ratios", 0.02, 0.5),
}


# What every policy agent lets a user set about where its proposals aim.
AIM_OPTIONS = {
    "feasible_share": Option(0.8, "share of recent candidates the centre aims to keep within "
                             "the target (0: aim at the target itself)", 0.0, 0.99),
    "aim_step": Option(0.05, "how fast the aim follows that share (log-space step per "
                       "candidate)", 0.0, 1.0),
}
AIM_WINDOW = 8  # candidates the share of feasible ones is counted over
AIM_RANGE = (0.6, 1.0)


# option names of the last release -> today's ("baseline" means the baseline agents only)
RENAMED_OPTIONS = {"baseline_decay": "average_decay"}


def read_options(agent: str, declared: dict[str, Option], given: dict) -> dict:
    """`given` checked against `declared`: unknown names, wrong types and out-of-range values
    get an error that names the agent and lists what it accepts; an old name warns and sets
    the new one."""
    given = dict(given)
    for old, new in RENAMED_OPTIONS.items():
        if old in given and new in declared:
            if new in given:
                raise EdgepruneError(f"agent {agent!r}: give option {new} only ({old} is its "
                                     f"old name)")
            warn_deprecated(f"agent option {old}", new, f"agent {agent!r}")
            given[new] = given.pop(old)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise EdgepruneError(f"agent {agent!r} has no option {unknown[0]!r} (options: {known})")
    values = {}
    for name, spec in declared.items():
        value = given.get(name, spec.default)
        kind = type(spec.default)
        try:
            if kind is bool and isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1", "yes")
            elif kind is int and (isinstance(value, bool) or float(value) != int(float(value))):
                raise ValueError(value)
            value = kind(float(value)) if kind in (int, float) else kind(value)
        except (TypeError, ValueError):
            raise EdgepruneError(f"agent {agent!r}: option {name}={given.get(name)!r}: "
                                 f"expected {_KIND_WORDS[kind]}") from None
        if (spec.low is not None and value < spec.low) or \
                (spec.high is not None and value > spec.high):
            raise EdgepruneError(f"agent {agent!r}: option {name}={value} is outside "
                                 f"[{spec.low}, {spec.high}]")
        values[name] = value
    return values


def init_parameters(module: torch.nn.Module, generator: torch.Generator,
                    gain: float = 1.0) -> None:
    """Seeded initialization (torch's own draws from the global generator, which a resumed
    run cannot reproduce): weights uniform in +-gain/sqrt(fan_in), biases zero."""
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dim() >= 2:
                bound = gain / parameter.shape[1] ** 0.5
                parameter.uniform_(-bound, bound, generator=generator)
            else:
                parameter.zero_()


class PolicyAgent(SearchAgent):
    """Base of the learning agents: options, decision table, cost model, features."""

    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self.options = read_options(self.name, {**self.OPTIONS, **AIM_OPTIONS},
                                    context.options)
        self.aim = 1.0
        self.recent_feasible: list[bool] = []
        self.table = DecisionTable(context)
        self.costs = CostModel(context.space)
        self.features = torch.from_numpy(decision_features(self.table, self.costs))
        self.fit = LatencyFit(context.base_gflops, context.base_latency_ms)

    def target_gflops(self) -> float:
        """The GFLOPs (in the cost model's units) the latency fit says meet the target."""
        ctx = self.context
        fraction = min(1.0, self.fit.gflops_for(ctx.target_ms * self.aim) / ctx.base_gflops)
        return self.costs.base_gflops * fraction

    def centre_ratio(self, drop_probability: float = 0.0) -> float:
        """The uniform keep ratio whose expected cost meets the target (see module doc)."""
        presence = np.full(len(self.context.space.blocks), 1.0 - drop_probability)
        return self.costs.uniform_ratio_for(self.target_gflops(), self.context.spec(),
                                            self.context.ratio_range, presence)

    def calibrate(self, evaluation: Candidate) -> None:
        """Take a measured cost into the latency fit, and move the aim (module doc)."""
        cost = self.cost_ms(evaluation)
        self.fit.add(evaluation.gflops, cost)
        share = self.options["feasible_share"]
        if share <= 0:
            return
        self.recent_feasible = [*self.recent_feasible, cost <= self.context.target_ms
                                ][-AIM_WINDOW:]
        met = sum(self.recent_feasible) / len(self.recent_feasible)
        step = self.options["aim_step"] * (1.0 if met >= share else -1.0)
        self.aim = float(np.clip(self.aim * np.exp(step), *AIM_RANGE))

    def reward_of(self, evaluation: Candidate) -> float:
        return evaluation.reward_for(self.reward_metric)

    def cost_ms(self, evaluation: Candidate) -> float:
        """The candidate's cost as this agent's reward sees it: measured latency, or FLOPs in
        base-latency units for a FLOPs-reward agent."""
        if self.reward_metric == "flops":
            return self.context.base_latency_ms * evaluation.gflops / self.context.base_gflops
        return evaluation.latency_ms


class SamplingAgent(PolicyAgent):
    """Base of the agents that sample drop flags and keep ratios from a policy (abcp, purl,
    gcn): the learned spread of the ratios, the drop prior, and the ratio centre, moved after
    every evaluation as the latency fit learns the device (see the module doc)."""

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        self.log_std = nn.Parameter(torch.tensor(float(np.log(self.options["ratio_std"]))))
        self.drop_bias = drop_logit(self.options["drop_init"])
        self.recentre()

    def recentre(self) -> None:
        """`centre`: the uniform keep ratio the latency fit says meets the target;
        `ratio_bias`: the same as a logit, what the policy's ratio outputs are offsets from."""
        self.centre = self.centre_ratio(self.options["drop_init"])
        self.ratio_bias = ratio_logit(self.centre, *self.context.ratio_range)

    def calibrate(self, evaluation: Candidate) -> None:
        super().calibrate(evaluation)
        self.recentre()
