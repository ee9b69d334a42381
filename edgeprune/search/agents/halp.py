"""`halp`: HALP's latency-saliency knapsack as a search baseline (Shen et al., NeurIPS 2022).

The strongest latency-aware pruner without RL: channel importance traded against latency
read from a per-layer table measured on the target device (knapsack.py), solved exactly for a
latency budget. Its candidates are measured like every other agent's; the budget is then
moved by measurement: the first budget is where the table says the target lies, each next one
is the last corrected by how far the measured latency missed the target (a secant step in log
space), and once one budget is known to meet the target and another to miss it, bisection
between them. It finishes when the two are within 1% or a budget gives a network already
evaluated, leaving the rest of the budget unspent (like `uniform`).

Needs the search to hand it the latency table of the base on the device and the base's
channel importance (AgentContext `latency_table`, `channel_scores`): `edgeprune search`
measures the table once into the run folder (or reads --latency-table).
"""

from __future__ import annotations

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import AgentContext, SearchAgent, register_agent
from edgeprune.search.agents.knapsack import LatencyKnapsack
from edgeprune.search.candidate import Candidate

CONVERGED = 1.01  # stop when the feasible and infeasible budgets are this close


@register_agent
class HalpAgent(SearchAgent):
    name = "halp"
    needs_latency_table = True

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        if context.latency_table is None or context.channel_scores is None:
            raise EdgepruneError("agent 'halp' needs the per-layer latency table of the base "
                                 "on the target device and the base's channel importance; "
                                 "`edgeprune search --agent halp` measures the table itself")
        scores = {k: np.asarray(v, dtype=float) for k, v in context.channel_scores.items()}
        self.knapsack = LatencyKnapsack(context.space, context.latency_table, scores,
                                        context.spec(), context.ratio_range[0])
        table = context.latency_table
        full = self.knapsack.widths.astype(float)
        predicted_base = self.knapsack.predict_ms(full, set())
        wanted = predicted_base * context.target_ms / context.base_latency_ms
        self.budget = max((wanted - table.intercept) / table.slope, 1e-6)
        self.feasible_budget: float | None = None
        self.infeasible_budget: float | None = None
        self.pending: float | None = None
        self.seen: set[str] = set()
        self.repeated = False
        self._solutions: dict[float, PruneSpec] = {}

    def _spec(self, budget: float) -> PruneSpec:
        if budget not in self._solutions:
            self._solutions[budget] = self.knapsack.spec(*self.knapsack.solve(budget))
        return self._solutions[budget]

    def finished(self) -> bool:
        low, high = self.feasible_budget, self.infeasible_budget
        converged = low is not None and high is not None and high / low <= CONVERGED
        return converged or self.repeated

    def propose(self, step: int) -> PruneSpec:
        self.pending = self.budget
        return self._spec(self.budget)

    def propose_round(self, first_step: int, size: int) -> list[PruneSpec]:
        # each budget follows from the last measurement: one candidate per round
        return [self.propose(first_step)]

    def observe(self, evaluation: Candidate) -> None:
        if self.pending is None:
            return
        budget, self.pending = self.pending, None
        if evaluation.feasible:
            self.feasible_budget = max(budget, self.feasible_budget or budget)
        else:
            self.infeasible_budget = min(budget, self.infeasible_budget or budget)
        low, high = self.feasible_budget, self.infeasible_budget
        if low is not None and high is not None:
            self.budget = float(np.sqrt(low * high))
        else:  # secant step: the layer sum scaled by how far the measurement missed
            self.budget = budget * self.context.target_ms / evaluation.latency_ms
        self.seen.add(evaluation.spec.hash)
        self.repeated = self._spec(self.budget).hash in self.seen

    def best_guess(self) -> PruneSpec | None:
        return self._spec(self.feasible_budget) if self.feasible_budget is not None else None
