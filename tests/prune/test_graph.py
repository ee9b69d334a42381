"""Channel coupling and the prune space, found from the graph of any cfg."""

from __future__ import annotations

from edgeprune.models.cfg import read_cfg
from edgeprune.models.graph import channel_coupling, residual_blocks
from edgeprune.models.zoo import builtin_cfg
from edgeprune.prune import PruneSpec, prune_space, pruned_cfg
from tests.prune.prune_helpers import GROUPED_CFG


def test_yolov3_shortcut_chains_are_one_set_per_stage():
    coupling = channel_coupling(builtin_cfg("yolov3"))
    chains = [s.producers for s in coupling.sets if len(s.producers) > 1]
    # Each stage: the downsampling conv and the last conv of every block in it.
    assert chains == [(1, 3), (5, 7, 10), (12, 14, 17, 20, 23, 26, 29, 32, 35),
                      (37, 39, 42, 45, 48, 51, 54, 57, 60), (62, 64, 67, 70, 73)]
    assert [s.width for s in coupling.sets if len(s.producers) > 1] == [64, 128, 256, 512, 1024]
    fixed = {s.producers: s.fixed for s in coupling.sets if not s.prunable}
    assert set(fixed) == {(), (81,), (93,), (105,)}
    assert "yolo-head" in fixed[(81,)] and fixed[()] == "network input"


def test_route_output_is_the_concatenation_of_its_inputs():
    cfg = builtin_cfg("yolov3")
    coupling = channel_coupling(cfg)
    # layer 86: route -1, 61 (upsampled 256 from conv 84, then the stage-4 chain, 512 wide)
    pieces = coupling.segments[86]
    assert [(coupling.sets[p.set_id].producers[0], p.start, p.stop) for p in pieces] == [
        (84, 0, 256), (37, 0, 512)]


def test_spp_route_repeats_one_set_four_times():
    cfg = builtin_cfg("yolov3-spp")
    coupling = channel_coupling(cfg)
    spp = next(i for i, layer in enumerate(cfg.layers)
               if getattr(layer, "layers", None) == (-1, -3, -5, -6))
    pieces = coupling.segments[spp]
    assert len(pieces) == 4 and len({p.set_id for p in pieces}) == 1
    assert coupling.sets[pieces[0].set_id].prunable


def test_grouped_route_and_grouped_conv_are_left_whole():
    coupling = channel_coupling(read_cfg(GROUPED_CFG))
    fixed = {s.producers: s.fixed for s in coupling.sets if not s.prunable}
    assert "groups=2, group_id=1" in fixed[(1,)]
    assert fixed[(6,)] == "read by the grouped conv at layer 9"
    assert "grouped conv" in fixed[(9,)]
    assert "yolo-head" in fixed[(11,)]
    # the grouped route keeps the second half of layer 1's channels
    (piece,) = coupling.segments[2]
    assert (piece.start, piece.stop) == (8, 16)
    space = prune_space(read_cfg(GROUPED_CFG))
    assert [g.key for g in space.groups] == [0, 3, 4, 10]


def test_prune_space_orders_decisions_by_position():
    space = prune_space(builtin_cfg("yolov3", width=0.25))
    decisions = space.decisions()
    assert len(space.blocks) == 23 and len(space.groups) == 49
    assert [d.layer for d in decisions] == sorted(d.layer for d in decisions)
    assert [(d.kind, d.index, d.width) for d in decisions[:4]] == [
        ("channels", 0, 8), ("channels", 1, 16), ("block", 0, 16), ("channels", 2, 8)]
    assert space.decisions() == decisions  # stable
    inner = next(g for g in space.groups if g.key == 2)
    assert inner.block == 0  # the block's first conv lives and dies with block 0
    assert next(g for g in space.groups if g.key == 1).block is None  # stage chain


def test_already_pruned_irregular_cfg_keeps_its_structure():
    base = builtin_cfg("yolov3", width=0.25)
    spec = PruneSpec.create(drop_blocks=[1, 4], default_ratio=0.41, round_to=1, min_channels=1)
    pruned = pruned_cfg(base, spec)
    widths = sorted({layer.filters for layer in pruned.layers if hasattr(layer, "filters")})
    assert {3, 7, 13} <= set(widths)  # irregular
    space = prune_space(pruned)
    assert len(space.blocks) == len(residual_blocks(base)) - 2
    assert len(space.groups) == len(prune_space(base).groups) - 2  # the dropped blocks' 1x1s
    chains = [g.layers for g in space.groups if len(g.layers) > 1]
    assert len(chains) == 5
