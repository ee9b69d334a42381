"""Channel importance criteria: plug-ins that score a conv's output channels, chosen by name.

A criterion sees one conv unit (conv + optional batch norm) and returns one score per output
channel, higher meaning more worth keeping. `apply_spec` combines the scores of every conv that
produces a coupled channel set (`group_scores`), so a criterion never needs to know about
shortcuts or routes. Add one with `@register_importance`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from edgeprune.models.darknet import ConvUnit, DarknetModel
from edgeprune.registry import Registry


class Importance(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def channel_scores(self, unit: ConvUnit) -> torch.Tensor:
        """One non-negative score per output channel of `unit` (shape: filters)."""


# The built-in criteria are defined (and registered) below.
IMPORTANCE: Registry[type[Importance]] = Registry("importance criterion")
register_importance = IMPORTANCE.register


def get_importance(criterion: str | Importance) -> Importance:
    """A criterion instance from its registered name (or the instance itself)."""
    if isinstance(criterion, Importance):
        return criterion
    return IMPORTANCE.create(criterion)


@register_importance
class L1Importance(Importance):
    name = "l1"
    description = "L1 norm of each filter's weights (Li et al., 2017)"

    def channel_scores(self, unit: ConvUnit) -> torch.Tensor:
        return unit.conv.weight.detach().abs().flatten(1).sum(1)


@register_importance
class L2Importance(Importance):
    name = "l2"
    description = "L2 norm of each filter's weights"

    def channel_scores(self, unit: ConvUnit) -> torch.Tensor:
        return unit.conv.weight.detach().flatten(1).norm(dim=1)


@register_importance
class BNScaleImportance(Importance):
    name = "bn_scale"
    description = ("|gamma| of the batch norm after the conv (network slimming, Liu et al., "
                   "2017); the filter's L1 norm for convs without batch norm")

    def channel_scores(self, unit: ConvUnit) -> torch.Tensor:
        if unit.bn is None:
            return L1Importance().channel_scores(unit)
        return unit.bn.weight.detach().abs()


@register_importance
class RandomImportance(Importance):
    name = "random"
    description = "seeded random scores: the baseline a real criterion must beat"

    def __init__(self, seed: int = 0) -> None:
        # One stream per instance: apply_spec scores convs in layer order, so a fresh instance
        # gives the same choice every time.
        self.generator = torch.Generator().manual_seed(seed)

    def channel_scores(self, unit: ConvUnit) -> torch.Tensor:
        return torch.rand(unit.conv.out_channels, generator=self.generator)


def group_scores(units: list[ConvUnit], criterion: Importance) -> torch.Tensor:
    """Scores of a channel set produced by several convs: the mean of each conv's scores
    divided by that conv's own mean, so every producer has an equal vote whatever the scale of
    its weights (a stage's 1x1 and 3x3 convs differ by an order of magnitude in L1)."""
    total = None
    for unit in units:
        scores = criterion.channel_scores(unit).float().cpu()
        scores = scores / scores.mean().clamp_min(1e-12)
        total = scores if total is None else total + scores
    return total / len(units)


def channel_set_scores(model: DarknetModel, importance: str | Importance
                       ) -> dict[int, torch.Tensor]:
    """Scores of every prunable channel set's channels from all of its producers (set id ->
    scores): one fixed channel order per set, what the weight-sharing network slices by and
    the `halp` knapsack values channels with."""
    from edgeprune.prune.space import prune_space

    criterion = get_importance(importance)
    coupling = prune_space(model.cfg).coupling
    return {s.id: group_scores([model.layers[i] for i in s.producers], criterion)
            for s in coupling.sets if s.prunable}
