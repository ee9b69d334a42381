"""Apply a `PruneSpec` to a model: a new, physically smaller `DarknetModel` with its own cfg.

Two steps. `plan_pruning` works on the cfg alone: which layers go (dropped residual blocks),
how layer references are renumbered, and which channels of every layer's output are kept.
`apply_spec` scores channels with an importance criterion, plans, and copies the kept slices
of every conv and batch-norm tensor into a model built from the new cfg.

Dropping residual block k removes its layers; whatever read the block's output (the next layer,
a later shortcut, a route) reads the block's input instead, which is what the block's output
would be if its body added nothing. Shortcut `from=` and route `layers=` keep the style they
were written in (relative stays relative, absolute stays absolute).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from edgeprune.models.cfg import (
    ConvLayer,
    DarknetCfg,
    Layer,
    RouteLayer,
    ShortcutLayer,
    absolute_index,
    validate_cfg,
)
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.models.darknet import ConvUnit, DarknetModel
from edgeprune.prune.importance import Importance, get_importance, group_scores
from edgeprune.prune.space import PruneSpace, ResolvedSpec, prune_space
from edgeprune.prune.spec import PruneSpec


@dataclass(frozen=True)
class PrunePlan:
    """How a base cfg becomes the pruned one, layer by layer (indices are the base's)."""

    base: DarknetCfg
    cfg: DarknetCfg
    resolved: ResolvedSpec
    new_index: tuple[int | None, ...]  # base layer -> pruned layer; None: dropped
    stand_in: tuple[int, ...]  # base layer -> base layer whose output replaces it (itself if kept)
    kept: tuple[tuple[int, ...], ...]  # base layer -> its output channels that are kept

    @property
    def spec(self) -> PruneSpec:
        return self.resolved.spec

    def input_kept(self, index: int) -> tuple[int, ...]:
        """Channels (base numbering) of the input of base layer `index` that are kept."""
        if index == 0:
            return tuple(range(self.base.net.channels))
        return self.kept[self.stand_in[index - 1]]


def plan_pruning(cfg: DarknetCfg, spec: PruneSpec,
                 scores: Mapping[int, torch.Tensor] | None = None,
                 space: PruneSpace | None = None, *,
                 layout: PrunePlan | None = None) -> PrunePlan:
    """Plan `spec` on `cfg`. `scores` (channel set id -> per-channel importance) choose the kept
    channels; without them the first channels are kept, which gives the right architecture
    (all a latency measurement needs) but not the right weights.

    `layout`: a plan of the same cfg and spec made without scores (the search plans each
    candidate once, for its architecture hash and its latency): the layers, renumbering and
    pruned cfg do not depend on which channels are kept, so they are reused and only the kept
    channels are chosen again."""
    if layout is not None and layout.spec == spec and layout.base.layers == cfg.layers:
        if scores is None:
            return layout
        space = space or prune_space(cfg)
        return dataclasses.replace(layout, kept=_kept_channels(space, layout.resolved, scores))
    space = space or prune_space(cfg)
    resolved = space.resolve(spec)
    stand_in = list(range(len(cfg.layers)))
    for block in sorted(resolved.dropped, key=lambda b: b.start):
        for index in block.layers:
            stand_in[index] = stand_in[block.start - 1]
    new_index: list[int | None] = []
    count = 0
    for index in range(len(cfg.layers)):
        new_index.append(count if stand_in[index] == index else None)
        count += stand_in[index] == index

    kept = _kept_channels(space, resolved, scores)
    layers = [_pruned_layer(cfg, index, len(kept[index]), new_index, stand_in)
              for index in range(len(cfg.layers)) if new_index[index] is not None]
    pruned = DarknetCfg(net=cfg.net, layers=tuple(layers), source=f"{cfg.source} (pruned)")
    validate_cfg(pruned)
    return PrunePlan(cfg, pruned, resolved, tuple(new_index), tuple(stand_in), kept)


def _kept_channels(space: PruneSpace, resolved: ResolvedSpec,
                   scores: Mapping[int, torch.Tensor] | None) -> tuple[tuple[int, ...], ...]:
    """Base layer -> its kept output channels: the most important of each coupled set (the
    first ones without scores)."""
    kept_of_set = {}
    for channel_set in space.coupling.sets:
        keep = resolved.kept[channel_set.id]
        if scores is not None and channel_set.id in scores and keep < channel_set.width:
            order = torch.argsort(scores[channel_set.id], descending=True, stable=True)
            kept_of_set[channel_set.id] = set(order[:keep].tolist())
        else:
            kept_of_set[channel_set.id] = set(range(keep))
    kept = []
    for pieces in space.coupling.segments:
        channels, offset = [], 0
        for piece in pieces:
            channels += [offset + c - piece.start for c in range(piece.start, piece.stop)
                         if c in kept_of_set[piece.set_id]]
            offset += piece.width
        kept.append(tuple(channels))

    return tuple(kept)


def _pruned_layer(cfg: DarknetCfg, index: int, filters: int, new_index: Sequence[int | None],
                  stand_in: Sequence[int]) -> Layer:
    layer = cfg.layers[index]

    def renumber(ref: int) -> int:
        target = new_index[stand_in[absolute_index(index, ref)]]
        return target - new_index[index] if ref < 0 else target

    if isinstance(layer, ConvLayer):
        return dataclasses.replace(layer, filters=filters)
    if isinstance(layer, ShortcutLayer):
        return dataclasses.replace(layer, from_=renumber(layer.from_))
    if isinstance(layer, RouteLayer):
        return dataclasses.replace(layer, layers=tuple(renumber(r) for r in layer.layers))
    return layer


def pruned_cfg(cfg: DarknetCfg, spec: PruneSpec) -> DarknetCfg:
    """The architecture `spec` gives `cfg` (no weights needed): what latency depends on."""
    return plan_pruning(cfg, spec).cfg


def channel_importance(model: DarknetModel, spec: PruneSpec,
                       importance: str | Importance = "l1",
                       space: PruneSpace | None = None) -> dict[int, torch.Tensor]:
    """Per-channel importance of every channel set `spec` thins, aggregated over the convs
    that produce it and survive the spec's block drops."""
    space = space or prune_space(model.cfg)
    resolved = space.resolve(spec)
    criterion = get_importance(importance)
    dropped = {i for block in resolved.dropped for i in block.layers}
    scores = {}
    for channel_set in space.coupling.sets:
        if resolved.kept[channel_set.id] == channel_set.width:
            continue
        units = [model.layers[i] for i in channel_set.producers if i not in dropped]
        if units:
            scores[channel_set.id] = group_scores(units, criterion)
    return scores


def apply_spec(model: DarknetModel, spec: PruneSpec, importance: str | Importance = "l1", *,
               layout: PrunePlan | None = None) -> DarknetModel:
    """A new model with `spec` applied: blocks dropped, the most important channels of each
    coupled set kept, conv and BN tensors sliced to match. `model` is left untouched; the new
    model is on the same device, in the same train/eval mode. `layout`: the spec's plan
    without scores, when the caller has one (plan_pruning)."""
    space = prune_space(model.cfg)
    scores = channel_importance(model, spec, importance, space)
    return build_pruned_model(model, plan_pruning(model.cfg, spec, scores, space,
                                                  layout=layout))


def build_pruned_model(model: DarknetModel, plan: PrunePlan) -> DarknetModel:
    """A model of `plan.cfg` holding the kept slices of `model`'s weights."""
    reference = next(model.parameters())
    pruned = DarknetModel(plan.cfg).to(device=reference.device, dtype=reference.dtype)
    with torch.no_grad():
        for index, layer in enumerate(plan.base.layers):
            target = plan.new_index[index]
            if target is None or not isinstance(layer, ConvLayer):
                continue
            device = reference.device
            out = torch.tensor(plan.kept[index], dtype=torch.long, device=device)
            source: ConvUnit = model.layers[index]
            unit: ConvUnit = pruned.layers[target]
            weight = source.conv.weight[out]
            if layer.groups == 1:  # grouped convs keep all channels (channel_coupling)
                inputs = torch.tensor(plan.input_kept(index), dtype=torch.long, device=device)
                weight = weight[:, inputs]
            unit.conv.weight.copy_(weight)
            if source.conv.bias is not None:
                unit.conv.bias.copy_(source.conv.bias[out])
            if source.bn is not None:
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(unit.bn, name).copy_(getattr(source.bn, name)[out])
                unit.bn.num_batches_tracked.copy_(source.bn.num_batches_tracked)
    return pruned.train(model.training)


def prune_checkpoint(ckpt: Checkpoint, spec: PruneSpec, importance: str | Importance = "l1",
                     base: str | None = None) -> Checkpoint:
    """`apply_spec` on a checkpoint; provenance records the base (and its own provenance), the
    spec, its hash and the criterion, so a pruned checkpoint says where it came from."""
    criterion = get_importance(importance)
    model = apply_spec(ckpt.model, spec, criterion)
    provenance = {"pruned_from": {"base": base, "provenance": ckpt.provenance},
                  "spec": spec.to_dict(), "spec_hash": spec.hash, "importance": criterion.name}
    return Checkpoint(model=model, names=list(ckpt.names), imgsz=ckpt.imgsz,
                      provenance=provenance)
