"""The contract between the search loop and its agents, and the registry that names them.

An agent proposes PruneSpecs a round at a time and is told how each scored (ask/tell). The loop
owns everything else: evaluating (in parallel when the search runs on a cluster), caching,
logging, resuming. Because an agent sees nothing but its
`AgentContext`, its own seeded generators and the evaluations it is told, replaying the recorded
evaluations of a killed run into a fresh agent with the same seed rebuilds its exact state:
that is how `edgeprune search --resume` continues without re-evaluating anything. So agents
must be deterministic given (context, seed, the sequence of observations): draw randomness
only from `self.rng` / `self.torch_generator`, never from global state.

Terms:
- step: the index of a proposal in the run (0, 1, 2, ...); every proposal is one candidate
  evaluation and counts against the budget.
- round: the steps proposed together, before any of them is observed (`round_size` of the
  search's settings, 1 by default); the loop evaluates them, possibly side by side, then
  observes them in step order. The round size is a search setting, never the number of
  workers, so what a seed proposes does not depend on how many machines evaluate it.
- episode: an agent's own grouping of steps (an ABCP episode is one step; a PuRL episode
  decides layer after layer and so spans several steps, each with its own reward).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import torch

from edgeprune.prune.space import PruneSpace
from edgeprune.prune.spec import PruneSpec
from edgeprune.registry import Registry
from edgeprune.search.candidate import Candidate


@dataclass(frozen=True)
class AgentContext:
    """Everything an agent may know about the problem."""

    space: PruneSpace  # decisions (blocks, channel groups) of the base model, network order
    budget: int  # candidate evaluations the run may spend, this agent's proposals included
    target_ms: float  # latency target on the device
    base_latency_ms: float
    base_accuracy: float
    base_gflops: float
    seed: int = 0
    round_to: int = 8
    min_channels: int = 8
    ratio_range: tuple[float, float] = (0.125, 1.0)  # keep ratios an agent may choose
    options: dict = field(default_factory=dict)  # agent-specific settings from the CLI/config
    # learned per-layer states of the base (layers, hidden), from the trained Graph
    # PruningNet when the search's accuracy proxy has one; None otherwise
    node_embeddings: np.ndarray | None = field(default=None, compare=False)
    # for agents that price channels on the device (`halp`): the per-layer latency table of
    # the base on the target device (latency.lut.LatencyPredictor) and every prunable channel
    # set's importance scores (set id -> scores); None unless the agent needs them
    latency_table: object | None = field(default=None, compare=False)
    channel_scores: dict | None = field(default=None, compare=False)

    def spec(self, drop_blocks=(), ratios: dict[int, float] | None = None,
             default_ratio: float = 1.0) -> PruneSpec:
        """A spec with this run's rounding rules, normalized to canonical group keys."""
        spec = PruneSpec.create(drop_blocks=drop_blocks, ratios=ratios,
                                default_ratio=default_ratio, round_to=self.round_to,
                                min_channels=self.min_channels)
        return self.space.normalize(spec)


class SearchAgent(ABC):
    """Base class of every agent: ask (`propose`), tell (`observe`)."""

    name: ClassVar[str]
    reward_metric: ClassVar[Literal["latency", "flops"]] = "latency"
    needs_latency_table: ClassVar[bool] = False  # the search measures one for it (halp)

    def __init__(self, context: AgentContext) -> None:
        self.context = context
        self.rng = np.random.default_rng(context.seed)
        self.torch_generator = torch.Generator().manual_seed(context.seed)

    @abstractmethod
    def propose(self, step: int) -> PruneSpec:
        """The next spec to evaluate."""

    def propose_round(self, first_step: int, size: int) -> list[PruneSpec]:
        """The specs of steps first_step, first_step + 1, ... (at most `size`, at least one),
        all proposed before any of them is observed. Agents that learn must handle several
        proposals waiting for their evaluations."""
        return [self.propose(first_step + offset) for offset in range(size)]

    @abstractmethod
    def observe(self, evaluation: Candidate) -> None:
        """Learn from the evaluation of the spec proposed at `evaluation.step`."""

    def finished(self) -> bool:
        """True when the agent has nothing left to try (e.g. `uniform` once its bisection has
        converged): the loop then stops before the budget is spent. Asked before every
        round, after the evaluations so far were observed."""
        return False

    def best_guess(self) -> PruneSpec | None:
        """The agent's own pick when asked (e.g. the policy's mode); the loop reports the best
        evaluated candidate regardless. None: no opinion beyond what was evaluated."""
        return None


AGENTS: Registry[type[SearchAgent]] = Registry("search agent", builtins="edgeprune.search.agents")
register_agent = AGENTS.register


def agent_class(name: str) -> type[SearchAgent]:
    return AGENTS.get(name)


def create_agent(name: str, context: AgentContext) -> SearchAgent:
    return AGENTS.create(name, context)


def agent_names() -> list[str]:
    return sorted(AGENTS.names())
