"""HALP's latency-saliency knapsack (Shen et al., NeurIPS 2022) over this project's action space.

Each prunable channel group is an item with one choice per channel count on the grid (the
search's round_to / min_channels / min_ratio): its value is the summed importance of the
channels it keeps (the most important first; scores from the search's importance criterion,
each producer's scores normalized to mean 1), its cost the latency of the convs producing it
at that width, read from the per-layer latency table measured on the target device
(latency/lut.py). A residual block's private group (the block's first conv) has one more
choice, "drop the block", of value 0 whose cost removes both of the block's convs: the table
prices block drops as well. The multiple-choice knapsack (maximize value, total cost within a
budget) is solved exactly by dynamic programming over a discretized budget.

A conv's cost depends on its input channels too, which belong to another group: like HALP,
the solve fixes every input at the previous solution's widths and repeats (starting from the
base), so the costs and the choice agree after a few rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprune.latency.lut import LatencyPredictor, LayerQuery, layer_queries
from edgeprune.models.cfg import ConvLayer
from edgeprune.models.graph import INPUT_SET
from edgeprune.prune.space import PruneSpace
from edgeprune.prune.spec import PruneSpec

BINS = 2000  # budget resolution of the dynamic program
ROUNDS = 4  # re-solves with the inputs fixed at the previous solution
DROP = -1  # the choice "drop the block" of a block's private group


@dataclass(frozen=True)
class Conv:
    index: int
    out_set: int
    inputs: tuple[tuple[int, int], ...]  # (channel set, width in this conv's input)
    query: LayerQuery
    block: int | None  # the residual block the conv is inside, if any


class LatencyKnapsack:
    def __init__(self, space: PruneSpace, table: LatencyPredictor,
                 scores: dict[int, np.ndarray], rules: PruneSpec, min_ratio: float) -> None:
        cfg, coupling = space.cfg, space.coupling
        self.space, self.table, self.rules = space, table, rules
        self.widths = np.array([s.width for s in coupling.sets])
        queries = dict(layer_queries(cfg, table.imgsz))
        block_of = {i: b.index for b in space.blocks for i in b.layers}
        self.convs = []
        for index, layer in enumerate(cfg.layers):
            if not isinstance(layer, ConvLayer):
                continue
            pieces = coupling.segments[index - 1] if index else ()
            inputs = tuple((p.set_id, p.width) for p in pieces) or ((INPUT_SET,
                                                                     cfg.net.channels),)
            self.convs.append(Conv(index, coupling.set_of(index).id, inputs, queries[index],
                                   block_of.get(index)))
        self.others = [q for i, q in queries.items() if q.kind != "conv"]
        self.min_ratio = min_ratio
        self.private = {g.set_id: g.block for g in space.groups if g.block is not None}
        self.private_of_block = {b: s for s, b in self.private.items()}
        self.choices: dict[int, list[int]] = {}
        self.values: dict[int, list[float]] = {}
        for group in space.groups:
            lowest = rules.kept_channels(group.width, min_ratio)
            counts = sorted({lowest, group.width,
                             *range(rules.round_to, group.width, rules.round_to)} - set(
                                 range(lowest)))
            ordered = np.sort(np.asarray(scores[group.set_id], dtype=float))[::-1]
            cumulative = np.concatenate([[0.0], np.cumsum(ordered)])
            self.choices[group.set_id] = counts
            self.values[group.set_id] = [float(cumulative[k]) for k in counts]
            if group.set_id in self.private:
                self.choices[group.set_id] = [DROP, *counts]
                self.values[group.set_id] = [0.0, *self.values[group.set_id]]

    # ------------------------------------------------------------------------ costs

    def _conv_ms(self, conv: Conv, kept: np.ndarray, out: int | None = None) -> float:
        c_in = int(sum(width * kept[s] / self.widths[s] for s, width in conv.inputs))
        c_out = int(kept[conv.out_set]) if out is None else out
        query = LayerQuery("conv", conv.query.geometry, max(c_in, 1), max(c_out, 1))
        return self.table.layer_ms(query)

    def layer_sum(self, kept: np.ndarray, dropped: set[int]) -> float:
        """The table's layer sum for channel counts `kept` (per set) and blocks `dropped`."""
        total = sum(self._conv_ms(c, kept) for c in self.convs if c.block not in dropped)
        return total + sum(self.table.layer_ms(q) for q in self.others)

    def predict_ms(self, kept: np.ndarray, dropped: set[int]) -> float:
        return self.table.slope * self.layer_sum(kept, dropped) + self.table.intercept

    def _costs(self, kept: np.ndarray) -> tuple[dict[int, list[float]], float]:
        """Per group, the cost of each choice with every input at `kept`; and the cost that
        no choice changes (convs with fixed outputs, pools, upsamples)."""
        costs = {g: [0.0] * len(c) for g, c in self.choices.items()}
        fixed = sum(self.table.layer_ms(q) for q in self.others)
        for conv in self.convs:
            owner = conv.out_set if conv.out_set in self.choices else None
            if conv.block in self.private_of_block:  # a block's convs go with its group
                owner = self.private_of_block[conv.block]
            if owner is None:
                fixed += self._conv_ms(conv, kept)
                continue
            for j, choice in enumerate(self.choices[owner]):
                if choice == DROP:
                    continue
                trial = kept.copy()
                trial[owner] = choice
                costs[owner][j] += self._conv_ms(conv, trial)
        return costs, fixed

    # ------------------------------------------------------------------------ solving

    def solve(self, budget: float) -> tuple[np.ndarray, set[int]]:
        """(kept channels per set, dropped blocks) of the most valuable choice whose layer sum
        stays within `budget` (the cheapest choice everywhere when none does)."""
        kept = self.widths.astype(float).copy()
        dropped: set[int] = set()
        for _ in range(ROUNDS):
            costs, fixed = self._costs(kept)
            picks = _multiple_choice(costs, self.values, budget - fixed)
            kept = self.widths.astype(float).copy()
            dropped = set()
            for group, j in picks.items():
                choice = self.choices[group][j]
                if choice == DROP:
                    dropped.add(self.private[group])
                    kept[group] = self.choices[group][1]  # nothing left to act on
                else:
                    kept[group] = choice
        return kept, dropped

    def spec(self, kept: np.ndarray, dropped: set[int]) -> PruneSpec:
        ratios = {}
        for group in self.space.groups:
            count = int(kept[group.set_id])
            if count < group.width and group.block not in dropped:
                ratio = count / group.width  # keeps exactly `count` unless it is the lowest
                if self.rules.kept_channels(group.width, ratio) != count:
                    ratio = self.min_ratio  # count: the lowest, not a multiple of round_to
                ratios[group.key] = ratio
        spec = PruneSpec.create(drop_blocks=sorted(dropped), ratios=ratios,
                                round_to=self.rules.round_to,
                                min_channels=self.rules.min_channels)
        return self.space.normalize(spec)


def _multiple_choice(costs: dict[int, list[float]], values: dict[int, list[float]],
                     budget: float) -> dict[int, int]:
    """group -> index of its choice: maximum total value with total cost <= budget, exact up to
    the budget's discretization into BINS steps (costs rounded up, so the budget holds)."""
    groups = list(costs)
    cheapest = sum(min(costs[g]) for g in groups)
    if budget <= cheapest:
        return {g: int(np.argmin(costs[g])) for g in groups}
    unit = budget / BINS
    best = np.zeros(BINS + 1)
    picks = np.zeros((len(groups), BINS + 1), dtype=np.int64)
    for n, group in enumerate(groups):
        weights = np.ceil(np.asarray(costs[group]) / unit - 1e-9).astype(np.int64)
        options = np.full((len(weights), BINS + 1), -np.inf)
        for j, (weight, value) in enumerate(zip(weights, values[group], strict=True)):
            if weight <= BINS:
                options[j, weight:] = best[:BINS + 1 - weight] + value
        picks[n] = options.argmax(axis=0)
        best = options.max(axis=0)
    if not np.isfinite(best[BINS]):  # the rounding up left nothing within the budget
        return {g: int(np.argmin(costs[g])) for g in groups}
    choice, remaining = {}, BINS
    for n in range(len(groups) - 1, -1, -1):
        j = int(picks[n, remaining])
        choice[groups[n]] = j
        remaining -= int(np.ceil(costs[groups[n]][j] / unit - 1e-9))
    return choice
