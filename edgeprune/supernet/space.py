"""The sub-networks a weight-sharing network covers, and how training samples them.

The space is the search's own action space on one base: any set of residual blocks dropped,
and per prunable channel group a kept-channel count on the channel grid (multiples of
`round_to`, at least `min_channels`, at least `min_ratio` of the group's width). A spec outside
it (a finer grid, a lower ratio) gets a clear error instead of weights nobody trained.

Training uses the sandwich rule (Yu & Huang 2019, "Universally Slimmable Networks"; BigNAS):
every step trains the largest sub-network (the base itself), the smallest, and `n` random
ones. Random sub-networks are drawn the way the search's agents propose them: a global keep
level, per-group ratios jittered around it, and each block dropped with a probability drawn
per sub-network, so the weights are trained where the search will look.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.prune.space import PruneSpace
from edgeprune.prune.spec import PruneSpec


class SupernetError(EdgepruneError):
    """A weight-sharing network file, or a spec, that does not fit what it is used with."""


@dataclass(frozen=True)
class SubnetRules:
    """The channel grid of the space (the search's --round-to, --min-channels, --min-ratio)."""

    round_to: int = 8
    min_channels: int = 8
    min_ratio: float = 0.125
    max_drop: float = 0.3  # random sub-networks drop each block with p ~ U(0, max_drop)
    ratio_jitter: float = 0.25  # per-group ratio = level x exp(N(0, jitter)), clipped

    def __post_init__(self) -> None:
        if self.round_to < 1 or self.min_channels < 1:
            raise SupernetError("round_to and min_channels must be at least 1")
        if not 0 < self.min_ratio <= 1:
            raise SupernetError(f"min_ratio must be in (0, 1], got {self.min_ratio}")
        if not 0 <= self.max_drop <= 1:
            raise SupernetError(f"max_drop must be in [0, 1], got {self.max_drop}")

    def to_dict(self) -> dict:
        return asdict(self)

    def spec(self, drop_blocks=(), ratios: dict[int, float] | None = None,
             default_ratio: float = 1.0) -> PruneSpec:
        return PruneSpec.create(drop_blocks=drop_blocks, ratios=ratios,
                                default_ratio=default_ratio, round_to=self.round_to,
                                min_channels=self.min_channels)

    def kept_counts(self, width: int) -> list[int]:
        """Every kept-channel count a group `width` wide can have in this space, increasing."""
        rules = self.spec()
        counts = {rules.kept_channels(width, self.min_ratio), width}
        counts.update(k for k in range(self.round_to, width, self.round_to)
                      if k >= rules.kept_channels(width, self.min_ratio))
        return sorted(counts)

    def ratio_for(self, width: int, kept: int) -> float:
        """A keep ratio that keeps exactly `kept` (one of `kept_counts(width)`) channels."""
        return self.min_ratio if kept == self.kept_counts(width)[0] else kept / width


def check_in_space(space: PruneSpace, rules: SubnetRules, spec: PruneSpec,
                   what: str = "the weight-sharing network") -> None:
    """SupernetError unless every channel count `spec` keeps is on `rules`' grid."""
    resolved = space.resolve(spec)  # SpecError for specs of another model
    if (spec.round_to, spec.min_channels) != (rules.round_to, rules.min_channels):
        raise SupernetError(
            f"{spec.source}: channels rounded to multiples of {spec.round_to} (at least "
            f"{spec.min_channels}); {what} was trained for multiples of {rules.round_to} (at "
            f"least {rules.min_channels}): search with --round-to {rules.round_to} "
            f"--min-channels {rules.min_channels}")
    for group in space.groups:
        kept = resolved.kept[group.set_id]
        if kept not in rules.kept_counts(group.width):
            lowest = rules.kept_counts(group.width)[0]
            raise SupernetError(
                f"{spec.source}: layer {group.key} keeps {kept} of {group.width} channels, "
                f"outside the space {what} was trained on (at least {lowest}, keep ratio >= "
                f"{rules.min_ratio:g}); search with --min-ratio {rules.min_ratio:g} or above")


class SubnetSampler:
    """Sandwich sampling over a PruneSpace; every draw comes from the generator given."""

    def __init__(self, space: PruneSpace, rules: SubnetRules) -> None:
        self.space = space
        self.rules = rules
        self.counts = {g.key: rules.kept_counts(g.width) for g in space.groups}

    def largest(self) -> PruneSpec:
        return self.rules.spec()

    def smallest(self) -> PruneSpec:
        """Every group at its lowest count; blocks kept (dropping all of them at once is a
        network no search would pick, and training it would pull the shared weights away from
        every useful one)."""
        rules = self.rules
        return rules.spec(ratios={g.key: rules.ratio_for(g.width, self.counts[g.key][0])
                                  for g in self.space.groups})

    def random(self, rng: np.random.Generator) -> PruneSpec:
        rules = self.rules
        level = rng.uniform(rules.min_ratio, 1.0)
        drop_probability = rng.uniform(0.0, rules.max_drop)
        drops = [b.index for b in self.space.blocks if rng.random() < drop_probability]
        ratios = {}
        for group in self.space.groups:
            ratio = level * math.exp(rng.normal(0.0, rules.ratio_jitter))
            counts = np.array(self.counts[group.key])
            kept = int(counts[np.abs(counts - ratio * group.width).argmin()])
            if kept < group.width:
                ratios[group.key] = rules.ratio_for(group.width, kept)
        return self.space.normalize(rules.spec(drop_blocks=drops, ratios=ratios))

    def step(self, rng: np.random.Generator, count: int) -> list[PruneSpec]:
        """The sub-networks of one training step: largest, smallest, `count` random."""
        return [self.largest(), self.smallest(), *(self.random(rng) for _ in range(count))]
