"""What can be pruned in a model: its decision points, and a spec checked against them.

`prune_space(cfg)` lists the residual blocks (keep or drop) and the prunable channel groups
(keep ratio) in network order, with their base widths: the action space of the search. The
same object validates a `PruneSpec` against the model (`resolve`), with errors that say which
block, layer or ratio is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgeprune.models.cfg import ConvLayer, DarknetCfg, layer_kind
from edgeprune.models.graph import (
    ChannelCoupling,
    ResidualBlock,
    channel_coupling,
    residual_blocks,
)
from edgeprune.prune.spec import PruneSpec, SpecError


@dataclass(frozen=True)
class ChannelGroup:
    """A prunable channel set: the convs that produce it are pruned together.

    `key` is the first producer's layer index, the name a spec's `ratios` use (any other
    producer's index is accepted too). `block` is the residual block whose body holds all
    producers, when there is one: dropping that block removes the group.
    """

    key: int
    layers: tuple[int, ...]
    width: int
    set_id: int
    block: int | None


@dataclass(frozen=True)
class Decision:
    """One decision of a pruning candidate, in network order."""

    kind: Literal["block", "channels"]
    index: int  # block index (kind "block") or channel group key (kind "channels")
    layer: int  # first layer it concerns; decisions are ordered by it
    width: int  # channels of the block's stream, or of the group


@dataclass(frozen=True)
class ResolvedSpec:
    """A spec checked against one model: what it drops and how many channels each set keeps."""

    spec: PruneSpec
    dropped: tuple[ResidualBlock, ...]
    kept: dict[int, int]  # channel set id -> channels kept (every set; fixed ones whole)


@dataclass(frozen=True)
class PruneSpace:
    cfg: DarknetCfg
    coupling: ChannelCoupling
    blocks: tuple[ResidualBlock, ...]
    groups: tuple[ChannelGroup, ...]

    def decisions(self) -> tuple[Decision, ...]:
        """Blocks and channel groups in the order they occur in the network (stable)."""
        items = [Decision("block", b.index, b.start, b.channels) for b in self.blocks]
        items += [Decision("channels", g.key, g.key, g.width) for g in self.groups]
        return tuple(sorted(items, key=lambda d: (d.layer, d.kind != "block")))

    def group_of(self, layer: int, where: str = "") -> ChannelGroup:
        """The prunable group conv `layer` produces; SpecError saying why when there is none."""
        prefix = f"{where}: " if where else ""
        count = len(self.cfg.layers)
        if not 0 <= layer < count:
            raise SpecError(f"{prefix}layer {layer} does not exist (the model has {count} "
                            f"layers, 0..{count - 1})")
        record = self.cfg.layers[layer]
        if not isinstance(record, ConvLayer):
            raise SpecError(f"{prefix}layer {layer} is a [{layer_kind(record)}]; keep ratios "
                            f"apply to [convolutional] layers")
        channel_set = self.coupling.set_of(layer)
        if not channel_set.prunable:
            raise SpecError(f"{prefix}layer {layer} cannot be pruned: its output channels are "
                            f"fixed ({channel_set.fixed})")
        return next(g for g in self.groups if g.set_id == channel_set.id)

    def resolve(self, spec: PruneSpec) -> ResolvedSpec:
        """Check `spec` against this model; SpecError names the bad block, layer or ratio."""
        where = spec.source
        for block in spec.drop_blocks:
            if block >= len(self.blocks):
                have = (f"{len(self.blocks)} residual blocks, 0..{len(self.blocks) - 1}"
                        if self.blocks else "no residual blocks")
                raise SpecError(f"{where}: drop_blocks: block {block} does not exist "
                                f"(the model has {have})")
        ratio_of_set: dict[int, tuple[int, float]] = {}
        for layer, ratio in spec.ratios:
            group = self.group_of(layer, f"{where}: ratios")
            if group.set_id in ratio_of_set:
                other, other_ratio = ratio_of_set[group.set_id]
                if other_ratio != ratio:
                    raise SpecError(
                        f"{where}: ratios: layers {other} and {layer} produce one coupled "
                        f"channel set (layers {_listing(group.layers)}); give it one keep "
                        f"ratio, not {other_ratio} and {ratio}")
            ratio_of_set[group.set_id] = (layer, ratio)
        kept = {}
        for channel_set in self.coupling.sets:
            if not channel_set.prunable:
                kept[channel_set.id] = channel_set.width
                continue
            _, ratio = ratio_of_set.get(channel_set.id, (None, spec.default_ratio))
            kept[channel_set.id] = spec.kept_channels(channel_set.width, ratio)
        dropped = tuple(self.blocks[b] for b in spec.drop_blocks)
        return ResolvedSpec(spec, dropped, kept)

    def normalize(self, spec: PruneSpec) -> PruneSpec:
        """`spec` checked, with every ratio keyed by its group's key and ratios equal to the
        default left out: specs that prune this model the same way become equal (same hash)."""
        self.resolve(spec)
        ratios = {self.group_of(layer).key: ratio for layer, ratio in spec.ratios
                  if ratio != spec.default_ratio}
        return spec.replace(ratios=tuple(ratios.items()))


def _listing(layers: tuple[int, ...]) -> str:
    shown = ", ".join(str(i) for i in layers[:6])
    return shown + (", ..." if len(layers) > 6 else "")


def prune_space(cfg: DarknetCfg) -> PruneSpace:
    """The decision points of `cfg`: residual blocks and prunable channel groups."""
    coupling = channel_coupling(cfg)
    blocks = tuple(residual_blocks(cfg))
    groups = []
    for channel_set in coupling.sets:
        if not channel_set.prunable:
            continue
        owner = next((b.index for b in blocks
                      if all(b.start <= p < b.end for p in channel_set.producers)), None)
        groups.append(ChannelGroup(channel_set.producers[0], channel_set.producers,
                                   channel_set.width, channel_set.id, owner))
    return PruneSpace(cfg, coupling, blocks, tuple(sorted(groups, key=lambda g: g.key)))
