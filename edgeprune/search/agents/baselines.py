"""Honest baselines the RL agents must beat at the same budget: `uniform` and `random`."""

from __future__ import annotations

import numpy as np

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import AgentContext, SearchAgent, register_agent
from edgeprune.search.agents.common import Option, read_options
from edgeprune.search.candidate import Candidate

GRID_POINTS = 1001  # keep ratios tried when listing the distinct uniform networks


@register_agent
class UniformAgent(SearchAgent):
    """One keep ratio for every prunable channel set, no block dropped; the ratio is found by
    bisection on MEASURED latency: the widest uniform network that meets the target.

    Bisection runs over the distinct networks the ratio range gives (after channel rounding
    many ratios give the same network), so it never evaluates one network twice and finishes
    after about log2(distinct networks) candidates, leaving the rest of the budget unspent.
    It assumes latency grows with the ratio; measurement noise near the target can make it
    settle one network off. A round of k candidates (the search's round size) splits the
    interval at k points instead of one (k-ary search: fewer rounds, more candidates).
    """

    name = "uniform"

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        low, high = context.ratio_range
        self.ratios: list[float] = []
        seen: set[tuple] = set()
        for ratio in np.linspace(low, high, GRID_POINTS):
            ratio = round(float(ratio), 6)
            kept = tuple(sorted(context.space.resolve(self._spec(ratio)).kept.items()))
            if kept not in seen:
                seen.add(kept)
                self.ratios.append(ratio)
        # Invariant: networks at index <= feasible meet the target, those at >= infeasible do
        # not. The widest (ratio 1, the base) is known to miss it: the loop checks that.
        self.feasible = -1
        self.infeasible = len(self.ratios) - 1 if high >= 1.0 else len(self.ratios)
        self.pending: dict[int, int] = {}  # step -> index of the ratio it proposed

    def _spec(self, ratio: float) -> PruneSpec:
        return self.context.spec(default_ratio=ratio)

    def finished(self) -> bool:
        return self.infeasible - self.feasible <= 1

    def propose(self, step: int) -> PruneSpec:
        return self.propose_round(step, 1)[0]

    def propose_round(self, first_step: int, size: int) -> list[PruneSpec]:
        low, gap = self.feasible, self.infeasible - self.feasible
        # size 1: the midpoint, (feasible + infeasible) // 2; never an end of the interval
        points = sorted({low + gap * k // (size + 1) for k in range(1, size + 1)}
                        - {low, self.infeasible})
        specs = []
        for step, index in enumerate(points, first_step):
            self.pending[step] = index
            specs.append(self._spec(self.ratios[index]))
        return specs

    def observe(self, evaluation: Candidate) -> None:
        index = self.pending.pop(evaluation.step, None)
        if index is None:
            return
        if evaluation.feasible:
            self.feasible = max(self.feasible, index)
        else:
            self.infeasible = min(self.infeasible, index)

    def best_guess(self) -> PruneSpec | None:
        return self._spec(self.ratios[self.feasible]) if self.feasible >= 0 else None


@register_agent
class RandomAgent(SearchAgent):
    """Random specs: random block drops and random per-group keep ratios.

    Each candidate first draws a pruning level u uniformly in the ratio range; every channel
    group's ratio is then uniform within +-`spread` (agent option, default 0.25) of u,
    clipped to the range, and every residual block is dropped with probability
    `max_drop` x (1 - u) / (1 - low) (agent option `max_drop`, default 0.5). Drawing the
    level first spreads candidates over the whole latency range instead of piling them up
    around the middle, which independent per-layer draws would do.
    """

    name = "random"
    OPTIONS = {
        "spread": Option(0.25, "each group's keep ratio is drawn within +-spread of the "
                         "candidate's pruning level", 0.0, 1.0),
        "max_drop": Option(0.5, "probability of dropping each residual block at the most "
                           "pruned level (falls linearly to 0 at the least pruned)", 0.0, 1.0),
    }

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        options = read_options(self.name, self.OPTIONS, context.options)
        self.spread = float(options["spread"])
        self.max_drop = float(options["max_drop"])

    def propose(self, step: int) -> PruneSpec:
        space, (low, high) = self.context.space, self.context.ratio_range
        level = self.rng.uniform(low, high)
        ratios = {}
        for group in space.groups:
            draw = self.rng.uniform(level - self.spread, level + self.spread)
            ratios[group.key] = round(float(np.clip(draw, low, high)), 4)
        drop_probability = self.max_drop * (high - level) / (high - low) if high > low else 0.0
        drops = [block.index for block in space.blocks if self.rng.random() < drop_probability]
        return self.context.spec(drop_blocks=drops, ratios=ratios)

    def observe(self, evaluation: Candidate) -> None:
        """Random search learns nothing."""
