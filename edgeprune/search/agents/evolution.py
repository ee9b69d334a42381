"""`evolution`: MetaPruning's evolutionary search over pruning specs (Liu et al., ICCV 2019).

The strongest search on a weight-sharing network in the literature is not RL: MetaPruning
evolves pruning specs scored on its PruningNet (+6.6 points over uniform at MobileNetV1 0.25x),
OFA evolves against predictors. So the RL agents are measured against it at the same proxy,
latency and budget.

A spec is its genes: per residual block keep or drop, per channel group a keep ratio. The
first `population` proposals are random, spread over the whole pruning range as `random`'s
are. From then on the search is steady-state: every proposal is a child of parents drawn from
the `parents` best candidates observed so far (by reward), by uniform crossover (each gene
from either parent) with probability `crossover`, else a copy of one parent, then mutated
(each block flipped, each ratio redrawn near its value, with probability `mutation`). A
proposal waiting for its evaluation (rounds of several) breeds from what has been observed,
so a seed proposes the same specs whatever ran them, and a resumed search replays exactly.
"""

from __future__ import annotations

import numpy as np

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import AgentContext, SearchAgent, register_agent
from edgeprune.search.agents.common import Option, read_options
from edgeprune.search.candidate import Candidate


@register_agent
class EvolutionAgent(SearchAgent):
    name = "evolution"
    OPTIONS = {
        "population": Option(16, "random specs before breeding starts", 2, 10_000),
        "parents": Option(8, "the best candidates observed that breed", 2, 10_000),
        "crossover": Option(0.5, "probability a child mixes two parents (else copies one)",
                            0.0, 1.0),
        "mutation": Option(0.1, "probability each gene of a child changes", 0.0, 1.0),
        "ratio_step": Option(0.1, "spread (std) of a mutated keep ratio around its value",
                             0.01, 1.0),
    }

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        options = read_options(self.name, self.OPTIONS, context.options)
        self.population = int(options["population"])
        self.parents = int(options["parents"])
        self.crossover = float(options["crossover"])
        self.mutation = float(options["mutation"])
        self.ratio_step = float(options["ratio_step"])
        self.blocks = [block.index for block in context.space.blocks]
        self.groups = [group.key for group in context.space.groups]
        self.genes: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # step -> (drops, ratios)
        self.scored: list[tuple[float, int]] = []  # (reward, step) of observed candidates

    def propose(self, step: int) -> PruneSpec:
        if len(self.scored) < min(self.population, self.context.budget) or \
                len(self.scored) < 2:
            drops, ratios = self._random()
        else:
            drops, ratios = self._child()
        self.genes[step] = (drops, ratios)
        return self.context.spec(drop_blocks=[b for b, gone in zip(self.blocks, drops,
                                                                   strict=True) if gone],
                                 ratios={key: round(float(r), 4) for key, r in
                                         zip(self.groups, ratios, strict=True)})

    def observe(self, evaluation: Candidate) -> None:
        if evaluation.step in self.genes:
            self.scored.append((evaluation.reward_for(self.reward_metric), evaluation.step))

    # ---------------------------------------------------------------------------- genes

    def _random(self) -> tuple[np.ndarray, np.ndarray]:
        """As `random` draws: a pruning level, the group ratios around it, blocks dropped
        more often the deeper the level (so the population spans the latency range)."""
        low, high = self.context.ratio_range
        level = self.rng.uniform(low, high)
        ratios = np.clip(self.rng.uniform(level - 0.25, level + 0.25, len(self.groups)),
                         low, high)
        drop = 0.5 * (high - level) / (high - low) if high > low else 0.0
        return self.rng.random(len(self.blocks)) < drop, ratios

    def _child(self) -> tuple[np.ndarray, np.ndarray]:
        ranked = sorted(self.scored, key=lambda item: (-item[0], item[1]))[:self.parents]
        first, second = (self.genes[ranked[i][1]] for i in
                         self.rng.choice(len(ranked), size=2, replace=len(ranked) < 2))
        drops, ratios = first[0].copy(), first[1].copy()
        if self.rng.random() < self.crossover:
            take_block = self.rng.random(len(self.blocks)) < 0.5
            take_group = self.rng.random(len(self.groups)) < 0.5
            drops[take_block] = second[0][take_block]
            ratios[take_group] = second[1][take_group]
        low, high = self.context.ratio_range
        flip = self.rng.random(len(self.blocks)) < self.mutation
        drops = np.where(flip, ~drops, drops)
        change = self.rng.random(len(self.groups)) < self.mutation
        moved = ratios + self.rng.normal(0.0, self.ratio_step, len(self.groups))
        ratios = np.clip(np.where(change, moved, ratios), low, high)
        return drops, ratios
