"""The weight-sharing network itself: the empty spec is the base, sub-networks run on the
shared tensors, extraction gives the standalone network, and the space is enforced."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeprune.models import load_checkpoint
from edgeprune.prune import PruneSpec
from edgeprune.prune.importance import channel_set_scores
from edgeprune.supernet.file import load_supernet
from edgeprune.supernet.network import WeightSharingNet
from edgeprune.supernet.space import SubnetRules, SubnetSampler, SupernetError
from tests.prune.prune_helpers import image, opencv_agreement


def untrained(setup, form: str) -> tuple[WeightSharingNet, torch.nn.Module]:
    base = load_checkpoint(setup.weights).model
    return WeightSharingNet(base, form, SubnetRules(), channel_set_scores(base, "l1")), base


@pytest.mark.parametrize("form", ["pruningnet", "slimmable"])
def test_largest_subnetwork_is_the_base_before_training(search_setup, form):
    net, base = untrained(search_setup, form)
    x = image(64)
    with torch.no_grad():
        largest = net.extract(net.rules.spec())(x)
        expected = base.eval()(x)
    assert largest.shape == expected.shape
    assert torch.allclose(largest, expected, atol=1e-4)


@pytest.mark.parametrize("form", ["pruningnet", "slimmable"])
def test_subnetwork_forward_equals_its_extracted_network(search_setup, form):
    net, _ = untrained(search_setup, form)
    spec = SubnetSampler(net.space, net.rules).random(np.random.default_rng(3))
    assert spec.drop_blocks or spec.ratios  # a real sub-network, not the base
    x = image(64, seed=1)
    shared = net.forward_subnet(spec, x)
    standalone = net.extract(spec).train()(x)
    for a, b in zip(shared, standalone, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    sum(o.sum() for o in shared).backward()
    first_conv = net.model.layers[0].conv.weight
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0


def test_sampler_stays_inside_the_space(search_setup):
    net, _ = untrained(search_setup, "slimmable")
    sampler = SubnetSampler(net.space, net.rules)
    rng = np.random.default_rng(0)
    specs = sampler.step(rng, 30)
    assert specs[0].is_empty and not specs[1].drop_blocks
    assert len({s.hash for s in specs}) > 20  # random draws differ
    for spec in specs:
        net.plan(spec)  # raises outside the space


def test_spec_outside_the_space_is_refused(search_setup):
    net, _ = untrained(search_setup, "slimmable")
    with pytest.raises(SupernetError, match="keep ratio >= 0.125"):
        net.extract(PruneSpec.uniform(0.05))  # 8 of the 128 channels the widest sets have
    with pytest.raises(SupernetError, match="multiples of 4.*--round-to 8"):
        net.extract(PruneSpec.uniform(0.5, round_to=4, min_channels=4))
    with pytest.raises(Exception, match="block 99 does not exist"):
        net.extract(PruneSpec.create(drop_blocks=[99]))


def test_trained_file_loads_safely_and_records_its_base(trained_supernets, search_setup):
    path = trained_supernets["pruningnet"]
    data = torch.load(path, weights_only=True)  # nothing unpickled
    assert data["format"] == "edgeprune-supernet" and data["form"] == "pruningnet"
    supernet = load_supernet(path)
    base = load_checkpoint(search_setup.weights)
    supernet.check_base(base, "base.pt", path)
    assert supernet.base_path == str(search_setup.weights.resolve())
    assert supernet.training["steps"] == 3 and set(supernet.training["probe_map50"]) == {
        "largest", "uniform 0.60", "uniform 0.35", "smallest"}
    with torch.no_grad():
        base.model.layers[0].conv.weight.add_(0.01)
    with pytest.raises(SupernetError, match="trained from another base model"):
        supernet.check_base(base, "other.pt", path)


def test_training_changed_the_shared_weights(trained_supernets, search_setup):
    base = load_checkpoint(search_setup.weights).model
    for form, path in trained_supernets.items():
        net = load_supernet(path).net
        moved = (net.model.layers[0].conv.weight - base.layers[0].conv.weight).abs().max()
        assert moved > 1e-4, form
        if form == "pruningnet":
            heads = [h.weight.abs().max() for h in net.encoder.heads.values()]
            assert max(heads) > 0  # the modulation left zero
            assert net.node_embeddings().shape == (len(base.cfg.layers), 32)
        else:
            assert net.node_embeddings() is None


def test_extracted_subnetwork_round_trips_through_opencv(trained_supernets, tmp_path):
    net = load_supernet(trained_supernets["pruningnet"]).net
    spec = net.space.normalize(net.rules.spec(drop_blocks=[1, 4], default_ratio=0.5))
    model = net.extract(spec)
    agreement = opencv_agreement(model, 96, tmp_path)
    assert agreement.count_a >= 10, agreement
    assert agreement.agrees(box_tolerance=1.0), agreement
