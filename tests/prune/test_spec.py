"""PruneSpec: file round trips, a stable hash, rounding, and one test per bad-spec error."""

from __future__ import annotations

import json

import pytest

from edgeprune.models.cfg import read_cfg
from edgeprune.models.zoo import builtin_cfg
from edgeprune.prune import PruneSpec, SpecError, load_spec, prune_space, save_spec
from tests.prune.prune_helpers import GROUPED_CFG


@pytest.fixture(scope="module")
def space():
    return prune_space(builtin_cfg("yolov3", num_classes=3, width=0.25))


SPEC = PruneSpec.create(drop_blocks=[7, 3, 5], ratios={12: 0.5, 1: 0.25}, default_ratio=0.75,
                        round_to=4, min_channels=2)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    path = save_spec(SPEC, tmp_path / f"spec{suffix}")
    loaded = load_spec(path)
    assert loaded == SPEC and loaded.hash == SPEC.hash
    assert loaded.source == str(path)
    if suffix == ".json":
        assert json.loads(path.read_text())["ratios"] == {"1": 0.25, "12": 0.5}


def test_written_yaml_is_readable_by_people(tmp_path):
    text = save_spec(SPEC, tmp_path / "spec.yaml").read_text()
    assert "drop_blocks: [3, 5, 7]" in text and "12: 0.5" in text


def test_hash_is_stable_and_means_what_the_spec_means():
    same = PruneSpec.create(drop_blocks=[5, 7, 3, 3], ratios={1: 0.25, 12: 0.5, 30: 0.75},
                            default_ratio=0.75, round_to=4, min_channels=2)
    assert same.hash == SPEC.hash  # order, duplicates, ratios equal to the default
    assert PruneSpec.create(ratios={1: 1}).hash == PruneSpec.create(ratios={1: 1.0}).hash
    assert PruneSpec().hash == PruneSpec.create(ratios={4: 1.0}).hash
    # a fixed literal: the search's cache stays valid across processes and machines
    assert SPEC.hash == "dbd3c9497bf0d245ad9df0bc4494142885919206d497a7652fad5fe643c78584"
    for changed in (SPEC.replace(round_to=8), SPEC.replace(drop_blocks=(3,)),
                    SPEC.replace(default_ratio=0.5), SPEC.replace(ratios=((1, 0.3),))):
        assert changed.hash != SPEC.hash


def test_normalize_makes_equivalent_specs_equal(space):
    # layer 10 is in the set keyed by layer 5; layer 6's ratio is the default anyway
    by_member = PruneSpec.create(ratios={10: 0.5, 6: 0.75, 2: 1.0}, default_ratio=0.75)
    by_key = PruneSpec.create(ratios={5: 0.5, 2: 1.0}, default_ratio=0.75)
    assert by_member.hash != by_key.hash
    assert space.normalize(by_member) == space.normalize(by_key)
    assert space.normalize(by_member).hash == space.normalize(by_key).hash
    assert space.normalize(by_member).ratio_map == {2: 1.0, 5: 0.5}
    with pytest.raises(SpecError, match="layer 81 cannot be pruned"):
        space.normalize(PruneSpec.create(ratios={81: 0.5}))


def test_kept_channels_rounding():
    spec = PruneSpec(round_to=8, min_channels=8)
    assert spec.kept_channels(256, 0.5) == 128
    assert spec.kept_channels(256, 0.3) == 80  # 76.8 -> nearest multiple of 8
    assert spec.kept_channels(64, 0.01) == 8  # at least one multiple / min_channels
    assert spec.kept_channels(13, 0.5) == 8
    assert spec.kept_channels(13, 1.0) == 13  # ratio 1 keeps irregular widths
    assert spec.kept_channels(4, 0.5) == 4  # never more than the layer has
    one = PruneSpec(round_to=1, min_channels=1)
    assert one.kept_channels(13, 0.5) == 7 and one.kept_channels(7, 0.01) == 1
    assert PruneSpec(round_to=1, min_channels=16).kept_channels(64, 0.1) == 16


def test_resolve_counts_per_set(space):
    spec = PruneSpec.create(ratios={7: 0.5}, default_ratio=0.75, round_to=1, min_channels=1)
    kept = space.resolve(spec).kept
    chain = space.coupling.set_of(5)  # layer 7 is in the stage-2 chain with layer 5
    assert kept[chain.id] == chain.width // 2
    assert kept[space.coupling.set_of(6).id] == 12  # 16 x 0.75
    assert kept[space.coupling.set_of(81).id] == 24  # yolo head: whole


def test_empty_spec_is_empty():
    assert PruneSpec().is_empty and PruneSpec.create(ratios={3: 1.0}).is_empty
    assert not PruneSpec.uniform(0.5).is_empty


# ------------------------------------------------------------------------------ bad specs

def test_error_block_that_does_not_exist(space):
    with pytest.raises(SpecError, match=r"drop_blocks: block 23 does not exist \(the model "
                       r"has 23 residual blocks, 0..22\)"):
        space.resolve(PruneSpec.create(drop_blocks=[2, 23]))


def test_error_block_in_model_without_blocks():
    tiny = prune_space(builtin_cfg("yolov3-tiny", width=0.25))
    with pytest.raises(SpecError, match="block 0 does not exist .the model has no residual"):
        tiny.resolve(PruneSpec.create(drop_blocks=[0]))


def test_error_layer_that_does_not_exist(space):
    with pytest.raises(SpecError, match=r"ratios: layer 107 does not exist \(the model has "
                       r"107 layers, 0..106\)"):
        space.resolve(PruneSpec.create(ratios={107: 0.5}))


def test_error_ratio_on_a_layer_that_is_not_a_conv(space):
    with pytest.raises(SpecError, match=r"layer 4 is a \[shortcut\]; keep ratios apply to "
                       r"\[convolutional\] layers"):
        space.resolve(PruneSpec.create(ratios={4: 0.5}))


def test_error_ratio_on_a_yolo_head_conv(space):
    with pytest.raises(SpecError, match=r"layer 81 cannot be pruned: its output channels are "
                       r"fixed \(yolo-head output"):
        space.resolve(PruneSpec.create(ratios={81: 0.5}))


def test_error_ratio_on_a_grouped_route_source():
    grouped = prune_space(read_cfg(GROUPED_CFG))
    with pytest.raises(SpecError, match=r"layer 1 cannot be pruned: .*split by the \[route\] "
                       r"at layer 2"):
        grouped.resolve(PruneSpec.create(ratios={1: 0.5}))
    with pytest.raises(SpecError, match="layer 6 cannot be pruned: .*grouped conv at layer 9"):
        grouped.resolve(PruneSpec.create(ratios={6: 0.5}))


def test_error_two_ratios_for_one_coupled_set(space):
    with pytest.raises(SpecError, match=r"layers 5 and 10 produce one coupled channel set "
                       r"\(layers 5, 7, 10\); give it one keep ratio, not 0.5 and 0.25"):
        space.resolve(PruneSpec.create(ratios={5: 0.5, 10: 0.25}))
    space.resolve(PruneSpec.create(ratios={5: 0.5, 10: 0.5}))  # agreeing is fine


@pytest.mark.parametrize("ratio", [0.0, -0.5, 1.5, float("nan")])
def test_error_ratio_outside_range(ratio):
    with pytest.raises(SpecError, match=r"ratios: layer 12: keep ratio .* is outside \(0, 1\]"):
        PruneSpec.create(ratios={12: ratio})


def test_error_default_ratio_outside_range():
    with pytest.raises(SpecError, match=r"default_ratio: keep ratio 2.0 is outside \(0, 1\]"):
        PruneSpec.from_dict({"default_ratio": 2.0}, "s.yaml")


@pytest.mark.parametrize("key", ["round_to", "min_channels"])
def test_error_rounding_below_one(key):
    with pytest.raises(SpecError, match=f"s.yaml: {key} must be a whole number >= 1, got 0"):
        PruneSpec.from_dict({key: 0}, "s.yaml")


def test_error_unknown_key(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("drop_block: [3]\n")
    with pytest.raises(SpecError, match=r"spec.yaml: unknown key 'drop_block' \(known: "
                       r"drop_blocks, default_ratio"):
        load_spec(path)


def test_error_not_a_mapping(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("- 3\n- 5\n")
    with pytest.raises(SpecError, match="spec.yaml: a prune spec is a mapping"):
        load_spec(path)


def test_error_ratio_not_a_number():
    with pytest.raises(SpecError, match="s.yaml: ratios: layer 12: keep ratio 'half' is not a "
                       "number"):
        PruneSpec.from_dict({"ratios": {12: "half"}}, "s.yaml")


def test_error_layer_key_not_an_index():
    with pytest.raises(SpecError, match="s.yaml: ratios: 'conv12' is not a whole number"):
        PruneSpec.from_dict({"ratios": {"conv12": 0.5}}, "s.yaml")


def test_error_block_not_an_index():
    with pytest.raises(SpecError, match="s.yaml: drop_blocks: 1.5 is not a whole number"):
        PruneSpec.from_dict({"drop_blocks": [1.5]}, "s.yaml")
    with pytest.raises(SpecError, match="drop_blocks: -1 is not a block index"):
        PruneSpec.create(drop_blocks=[-1])
    with pytest.raises(SpecError, match="drop_blocks must be a list"):
        PruneSpec.from_dict({"drop_blocks": 3}, "s.yaml")


def test_error_missing_file(tmp_path):
    with pytest.raises(SpecError, match="nope.yaml: spec file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_error_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("round_to: 8\nratios: {12: 0.5\n")
    with pytest.raises(SpecError, match=r"spec.yaml:\d+: not valid YAML"):
        load_spec(path)


def test_error_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"round_to": 8,\n "ratios": {12: 0.5}}')
    with pytest.raises(SpecError, match=r"spec.json:2: not valid JSON"):
        load_spec(path)
