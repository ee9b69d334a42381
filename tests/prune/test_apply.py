"""apply_spec: identity, block dropping, channel slicing through shortcuts and routes."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.models import Checkpoint, DarknetModel, create, load_checkpoint, save_checkpoint
from edgeprune.models.cfg import RouteLayer
from edgeprune.models.counting import layer_costs
from edgeprune.models.graph import ResidualBlock
from edgeprune.models.zoo import builtin_cfg
from edgeprune.prune import (
    PruneSpec,
    apply_spec,
    plan_pruning,
    prune_checkpoint,
    prune_space,
    pruned_cfg,
)
from edgeprune.prune.apply import channel_importance
from edgeprune.prune.report import prune_report
from tests.helpers import randomize_weights
from tests.prune.prune_helpers import grouped_model, image

IMGSZ = 64


def _model(name: str) -> DarknetModel:
    if name == "grouped":
        return randomize_weights(grouped_model(), imgsz=(64, 64))
    return randomize_weights(create(name, num_classes=3, width=0.125, imgsz=IMGSZ),
                             imgsz=(IMGSZ, IMGSZ))


MODELS = ["yolov3", "yolov3-tiny", "yolov3-spp", "grouped"]


@pytest.mark.parametrize("name", MODELS)
def test_empty_spec_gives_identical_outputs(name):
    model = _model(name)
    pruned = apply_spec(model, PruneSpec())
    assert pruned is not model and pruned.cfg == model.cfg
    x = image(IMGSZ)
    with torch.no_grad():
        assert torch.equal(pruned(x), model(x))
    for key, value in model.state_dict().items():
        assert torch.equal(pruned.state_dict()[key], value), key


def _kill_pruned_channels(model: DarknetModel, spec: PruneSpec, seed: int = 0) -> None:
    """Zero BN scale and shift of channels the spec will remove (chosen at random), so their
    outputs are exactly zero: removing them must not change the network's output."""
    space = prune_space(model.cfg)
    kept = space.resolve(spec).kept
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for channel_set in space.coupling.sets:
            remove = channel_set.width - kept[channel_set.id]
            if not channel_set.prunable or remove == 0:
                continue
            dead = torch.randperm(channel_set.width, generator=generator)[:remove]
            for layer in channel_set.producers:
                model.layers[layer].bn.weight[dead] = 0.0
                model.layers[layer].bn.bias[dead] = 0.0


@pytest.mark.parametrize("name", MODELS)
def test_removing_dead_channels_keeps_outputs(name):
    """Slicing is right everywhere (producers, BN, consumers' inputs through shortcuts, routes,
    SPP, maxpool, upsample) iff removing channels that output zero changes nothing."""
    model = _model(name)
    blocks = len(prune_space(model.cfg).blocks)
    drops = [1, 4, 5, 10] if blocks else []
    spec = PruneSpec.create(drop_blocks=drops, default_ratio=0.45, ratios={0: 0.7},
                            round_to=1, min_channels=1)
    _kill_pruned_channels(model, spec)
    reference = apply_spec(model, PruneSpec.create(drop_blocks=drops))
    pruned = apply_spec(model, spec, importance="bn_scale")
    assert sum(p.numel() for p in pruned.parameters()) < 0.7 * sum(
        p.numel() for p in reference.parameters())
    x = image(IMGSZ, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), reference(x), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- block dropping

def _cfg_without_block(cfg, block: ResidualBlock):
    """The cfg written without `block`, independently of apply.py: delete its layers, point
    absolute route references past it back by its length, and references into it at its
    input (what the block's output becomes)."""
    removed = len(block.layers)
    layers = []
    for index, layer in enumerate(cfg.layers):
        if index in block.layers:
            continue
        if isinstance(layer, RouteLayer):
            refs = []
            for ref in layer.layers:
                if ref < 0:  # yolov3's relative references never span a block
                    assert not index + ref <= block.end < index
                    refs.append(ref)
                elif ref > block.end:
                    refs.append(ref - removed)
                else:
                    refs.append(block.start - 1 if ref >= block.start else ref)
            layer = dataclasses.replace(layer, layers=tuple(refs))
        layers.append(layer)
    return cfg.replace(layers=tuple(layers))


def _state_without_block(state: dict, block: ResidualBlock) -> dict:
    moved = {}
    for key, value in state.items():
        index = int(re.match(r"layers\.(\d+)\.", key).group(1))
        if index in block.layers:
            continue
        new = index - len(block.layers) if index > block.end else index
        moved[re.sub(r"^layers\.\d+\.", f"layers.{new}.", key)] = value
    return moved


@pytest.mark.parametrize("drops", [[0], [10], [22], [3, 4, 10, 18]])
def test_dropping_blocks_equals_the_cfg_written_without_them(drops):
    """Block 10 ends at layer 36 and block 18 at 61, which the heads route to; 3 and 4 are
    adjacent."""
    model = _model("yolov3")
    blocks = prune_space(model.cfg).blocks
    expected_cfg, state = model.cfg, model.state_dict()
    for block in sorted((blocks[k] for k in drops), key=lambda b: -b.start):
        expected_cfg = _cfg_without_block(expected_cfg, block)
        state = _state_without_block(state, block)
    expected = DarknetModel(expected_cfg).eval()
    expected.load_state_dict(state)

    pruned = apply_spec(model, PruneSpec.create(drop_blocks=drops))
    assert pruned.cfg == expected_cfg
    assert len(prune_space(pruned.cfg).blocks) == len(blocks) - len(drops)
    x = image(IMGSZ, seed=5)
    with torch.no_grad():
        assert torch.equal(pruned(x), expected(x))


def test_shortcut_and_route_references_keep_their_style():
    cfg = builtin_cfg("yolov3", width=0.125)
    plan = plan_pruning(cfg, PruneSpec.create(drop_blocks=[10, 18]))
    routes = [layer.layers for layer in plan.cfg.layers if isinstance(layer, RouteLayer)]
    # absolute 61 -> 55 (block 18's input, shifted by block 10); 36 -> 33 (block 10's input)
    assert routes == [(-4,), (-1, 55), (-4,), (-1, 33)]
    assert {layer.from_ for layer in plan.cfg.layers if hasattr(layer, "from_")} == {-3}
    assert plan.new_index[36] is None and plan.stand_in[36] == 33


# ------------------------------------------------------------------------------- importance

def _stage2_model() -> tuple[DarknetModel, tuple[int, ...]]:
    model = create("yolov3", num_classes=3, width=0.25, imgsz=IMGSZ)
    return model, prune_space(model.cfg).group_of(5).layers  # (5, 7, 10), 32 channels


@pytest.mark.parametrize("criterion", ["l1", "l2"])
def test_weight_norm_criteria_keep_the_strongest_filters(criterion):
    model, chain = _stage2_model()
    strong = [3, 17, 30, 31]
    with torch.no_grad():
        for layer in chain:
            model.layers[layer].conv.weight[strong] *= 50
    pruned = apply_spec(model, PruneSpec.create(ratios={5: 4 / 32}, round_to=1, min_channels=1),
                        importance=criterion)
    for layer in chain:
        torch.testing.assert_close(pruned.layers[layer].conv.weight,
                                   model.layers[layer].conv.weight[strong])
    # the stage's consumers read exactly those input channels
    torch.testing.assert_close(pruned.layers[6].conv.weight,
                               model.layers[6].conv.weight[:, strong])


def test_bn_scale_importance_is_aggregated_over_the_coupled_set():
    model, chain = _stage2_model()
    with torch.no_grad():
        for layer in chain:
            model.layers[layer].bn.weight.fill_(0.1)
        model.layers[5].bn.weight[[2, 9]] = 5.0  # strong in one producer only
        model.layers[10].bn.weight[[20]] = 5.0
    pruned = apply_spec(model, PruneSpec.create(ratios={7: 3 / 32}, round_to=1, min_channels=1),
                        importance="bn_scale")
    for layer in chain:
        torch.testing.assert_close(pruned.layers[layer].bn.weight,
                                   model.layers[layer].bn.weight[[2, 9, 20]])


def test_random_importance_is_reproducible():
    model, _ = _stage2_model()
    spec = PruneSpec.uniform(0.5, round_to=1, min_channels=1)
    first, second = (apply_spec(model, spec, importance="random") for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                 second.state_dict().values(), strict=True))
    l1 = apply_spec(model, spec, importance="l1")
    assert not torch.equal(first.layers[0].conv.weight, l1.layers[0].conv.weight)


def test_unknown_importance_is_an_error():
    model, _ = _stage2_model()
    with pytest.raises(EdgepruneError, match="unknown importance criterion 'l3' .known: bn_scale"):
        apply_spec(model, PruneSpec.uniform(0.5), importance="l3")


# ----------------------------------------------------------------------- model and counting

def test_apply_spec_leaves_the_base_alone_and_keeps_its_mode():
    model, _ = _stage2_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    pruned = apply_spec(model, PruneSpec.uniform(0.5, round_to=1, min_channels=1))
    assert pruned.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert isinstance(pruned(image(IMGSZ)), list)  # train mode: raw head tensors


def test_pruned_checkpoint_round_trip_keeps_provenance(tmp_path):
    model, _ = _stage2_model()
    base = Checkpoint(model, ["a", "b", "c"], (IMGSZ, IMGSZ), {"builtin": "yolov3"})
    spec = PruneSpec.create(drop_blocks=[2], default_ratio=0.5, round_to=1, min_channels=1)
    pruned = prune_checkpoint(base, spec, "l2", base="base.pt")
    path = save_checkpoint(pruned, tmp_path / "pruned.pt")
    loaded = load_checkpoint(path)
    assert loaded.model.cfg == pruned.model.cfg and loaded.names == ["a", "b", "c"]
    provenance = loaded.provenance
    assert provenance["pruned_from"] == {"base": "base.pt",
                                         "provenance": {"builtin": "yolov3"}}
    assert provenance["spec_hash"] == spec.hash and provenance["importance"] == "l2"
    assert PruneSpec.from_dict(provenance["spec"]) == spec
    x = image(IMGSZ)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), pruned.model(x))


def test_uniform_quarter_of_yolov3_has_a_sixteenth_of_the_backbone_and_neck():
    """Counting only: yolov3 at width 1.0, keep ratio 0.25 everywhere (round_to 1)."""
    base = builtin_cfg("yolov3")
    pruned = pruned_cfg(base, PruneSpec.uniform(0.25, round_to=1, min_channels=1))

    def backbone_and_neck(cfg) -> int:
        heads = {i - 1 for i in cfg.yolo_indices}
        return sum(c.params for c in layer_costs(cfg) if c.index not in heads)

    assert backbone_and_neck(pruned) == pytest.approx(backbone_and_neck(base) / 16, rel=0.02)
    head_outputs = [pruned.layers[i - 1].filters for i in pruned.yolo_indices]
    assert head_outputs == [255, 255, 255]


def test_report_counts_before_and_after():
    cfg = builtin_cfg("yolov3", num_classes=3, width=0.25)
    plan = plan_pruning(cfg, PruneSpec.create(drop_blocks=[1], default_ratio=0.5,
                                              round_to=1, min_channels=1))
    report = prune_report(plan, (128, 128))
    assert report.params_before == sum(c.params for c in layer_costs(cfg))
    assert report.params_after == sum(c.params for c in layer_costs(plan.cfg))
    assert report.gflops_after == pytest.approx(
        sum(c.flops for c in layer_costs(plan.cfg, (128, 128))) / 1e9)
    rows = {row.index: row for row in report.layers}
    assert [rows[i].new_index for i in (5, 6, 7, 8, 9)] == [5, None, None, None, 6]
    assert rows[6].params_after == 0 and rows[6].changed
    assert (rows[1].in_before, rows[1].in_after, rows[1].out_before, rows[1].out_after) == (
        8, 4, 16, 8)
    assert report.layers_before - report.layers_after == 3
    assert report.to_json()["dropped_blocks"] == [{"index": 1, "layers": [6, 8],
                                                   "channels": 32}]


def test_an_architecture_plan_made_once_is_reused_for_the_weights():
    """The search plans a candidate once (hash, measured cfg); apply_spec reuses that layout
    and only picks the channels, with the same result as planning from scratch."""
    model = randomize_weights(create("yolov3-tiny", num_classes=3, width=0.25), seed=4)
    spec = PruneSpec.create(default_ratio=0.5, drop_blocks=[])
    layout = plan_pruning(model.cfg, spec)
    scores = channel_importance(model, spec, "l1")
    reused = plan_pruning(model.cfg, spec, scores, layout=layout)
    assert reused.cfg is layout.cfg and reused.new_index is layout.new_index
    assert reused == plan_pruning(model.cfg, spec, scores)
    assert plan_pruning(model.cfg, spec, layout=layout) is layout
    other = PruneSpec.uniform(0.25)  # a layout of another spec is not used
    assert plan_pruning(model.cfg, other, layout=layout).cfg != layout.cfg
    with torch.no_grad():
        x = image(64)
        assert torch.equal(apply_spec(model, spec, layout=layout)(x), apply_spec(model, spec)(x))
