"""An agent's actions as arrays over the decision points, and the specs they stand for.

Every RL agent here acts on `space.decisions()` (network order): a drop flag per residual
block and a keep ratio per channel group. `DecisionTable` turns such arrays into a spec with
the run's rounding rules and back. Decoding a spec (rather than remembering what was sampled)
lets an agent learn from exactly what was evaluated, which is what a resumed run replays.

Keep ratios are snapped to the channel grid: a group 32 wide with round_to 8 can keep 8, 16,
24 or 32 channels, so every continuous ratio falls in one of four bins and the spec records
the bin's own ratio (0.25, 0.5, 0.75, 1.0). The same network then always gets the same spec
(and hash: the search caches by it), and the probability of an evaluated action is the exact
probability of its bin (policy.py), not a density at an arbitrary point inside it.

A channel group inside a dropped block has nothing left to prune, so its ratio is left out of
the spec and out of the agent's log-probability, for the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import AgentContext


@dataclass(frozen=True)
class RatioBins:
    """The keep ratios of one channel group that give distinct kept-channel counts.

    Bin j holds raw (unclipped) ratios in [lower[j], upper[j]); the ends are -inf and +inf
    because a ratio is clipped into the ratio range before rounding.
    """

    kept: np.ndarray  # channels kept, per bin, increasing
    lower: np.ndarray
    upper: np.ndarray
    ratio: np.ndarray  # the ratio a spec records for the bin

    def index(self, ratio: float) -> int:
        return int(np.searchsorted(self.upper, ratio, side="right").clip(0, len(self.kept) - 1))


def ratio_bins(width: int, rules: PruneSpec, lo: float, hi: float) -> RatioBins:
    def kept(r: float) -> int:
        return rules.kept_channels(width, r)

    step = rules.round_to / width  # kept count changes only where r x width / round_to + 1/2
    thresholds = [(m + 0.5) * step for m in range(int(hi / step) + 2)]  # is a whole number
    points = sorted({lo, hi, *(t for t in thresholds if lo < t < hi)})
    segments: list[list] = []  # [start, end, kept]
    for a, b in zip(points, points[1:], strict=False):
        value = kept((a + b) / 2)
        if segments and segments[-1][2] == value:
            segments[-1][1] = b
        else:
            segments.append([a, b, value])
    at_hi = kept(hi)
    if segments and segments[-1][2] == at_hi:
        segments[-1][1] = np.inf
    else:  # hi itself keeps more (e.g. ratio 1.0 of a width that is not a multiple)
        segments.append([hi, np.inf, at_hi])
    segments[0][0] = -np.inf
    ratios = []
    for start, end, count in segments:
        exact = count / width
        if lo <= exact <= hi and kept(exact) == count:
            ratios.append(exact)
        else:
            ratios.append(float(np.clip((max(start, lo) + min(end, hi)) / 2, lo, hi)))
    lower, upper, counts = (np.array(column, dtype=np.float64) for column in zip(*segments,
                                                                                 strict=True))
    return RatioBins(counts.astype(np.int64), lower, upper, np.array(ratios))


class DecisionTable:
    def __init__(self, context: AgentContext) -> None:
        self.context = context
        space = context.space
        self.decisions = space.decisions()
        self.is_block = np.array([d.kind == "block" for d in self.decisions])
        self.block_positions = np.flatnonzero(self.is_block)
        self.channel_positions = np.flatnonzero(~self.is_block)
        groups = {g.key: g for g in space.groups}
        self.groups = [groups.get(d.index) if d.kind == "channels" else None
                       for d in self.decisions]
        position_of_block = {self.decisions[p].index: p for p in self.block_positions}
        # for each decision: the position of the block decision that removes it, or -1
        self.owner = np.array([position_of_block.get(g.block, -1) if g is not None
                               and g.block is not None else -1 for g in self.groups])
        self.lo, self.hi = context.ratio_range
        self.rules = context.spec()
        self.bins = [ratio_bins(g.width, self.rules, self.lo, self.hi) if g is not None
                     else None for g in self.groups]

    def __len__(self) -> int:
        return len(self.decisions)

    def active_channels(self, drop: np.ndarray) -> np.ndarray:
        """Mask of the channel decisions that still act when the blocks in `drop` are dropped."""
        owner_dropped = np.where(self.owner >= 0, drop[np.maximum(self.owner, 0)], False)
        return ~self.is_block & ~owner_dropped

    def snap(self, position: int, ratio: float) -> float:
        """The recorded ratio of the bin `ratio` falls in (see RatioBins)."""
        bins = self.bins[position]
        return float(bins.ratio[bins.index(ratio)])

    def to_spec(self, drop: np.ndarray, ratios: np.ndarray) -> PruneSpec:
        """The spec for per-decision arrays (drop: bool at block positions; ratios at channel
        positions, snapped to the channel grid; other entries ignored)."""
        drop = np.asarray(drop, dtype=bool) & self.is_block
        active = self.active_channels(drop)
        ratio_map = {self.decisions[p].index: self.snap(p, ratios[p])
                     for p in np.flatnonzero(active)}
        return self.context.spec(drop_blocks=[self.decisions[p].index
                                              for p in np.flatnonzero(drop)],
                                 ratios={k: r for k, r in ratio_map.items() if r < 1.0})

    def from_spec(self, spec: PruneSpec) -> tuple[np.ndarray, np.ndarray]:
        """(drop, ratios) arrays for `spec`, each ratio the recorded ratio of the bin whose
        channel count the spec keeps (the nearest bin when outside the ratio range)."""
        space = self.context.space
        dropped = set(spec.drop_blocks)
        drop = np.array([d.kind == "block" and d.index in dropped for d in self.decisions])
        by_key = {space.group_of(layer).key: r for layer, r in spec.ratios}
        ratios = np.ones(len(self))
        for p in self.channel_positions:
            group, bins = self.groups[p], self.bins[p]
            count = spec.kept_channels(group.width, by_key.get(group.key, spec.default_ratio))
            ratios[p] = bins.ratio[int(np.abs(bins.kept - count).argmin())]
        return drop, ratios

    def bin_indices(self, ratios: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return np.array([self.bins[p].index(ratios[p]) for p in positions], dtype=np.int64)
