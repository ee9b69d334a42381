"""BN recalibration: statistics re-estimated as a cumulative average, nothing else touched."""

from __future__ import annotations

import copy

import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.models import create
from edgeprune.prune.recalibrate import recalibrate_bn
from tests.helpers import randomize_weights


def _batches(count: int, size: int = 2, imgsz: int = 64, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(size, 3, imgsz, imgsz, generator=generator) for _ in range(count)]


@pytest.fixture
def model():
    return randomize_weights(create("yolov3", num_classes=3, width=0.125, imgsz=64), imgsz=(64, 64))


def test_statistics_are_the_exact_average_over_all_batches(model):
    batches = _batches(5)
    params = {k: v.clone() for k, v in model.named_parameters()}
    momenta = [m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    calls = []
    used = recalibrate_bn(model, iter(batches), num_batches=5, progress=calls.append)
    assert used == 5 and calls == [1, 2, 3, 4, 5]

    first = model.layers[0]
    with torch.no_grad():
        conv_out = torch.cat([first.conv(b) for b in batches])  # (10, C, H, W)
    torch.testing.assert_close(first.bn.running_mean, conv_out.mean(dim=(0, 2, 3)))
    # cumulative average of the per-batch unbiased variances (equal batch sizes)
    per_batch = torch.stack([first.conv(b).detach().transpose(0, 1).flatten(1).var(dim=1)
                             for b in batches])
    torch.testing.assert_close(first.bn.running_var, per_batch.mean(0))
    assert int(first.bn.num_batches_tracked) == 5

    assert not model.training and all(not m.training for m in model.modules())
    assert momenta == [m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(params[k], v) for k, v in model.named_parameters())


def test_stops_after_num_batches_and_accepts_uint8(model):
    batches = [(b * 255).to(torch.uint8) for b in _batches(6)]
    reference = copy.deepcopy(model)
    assert recalibrate_bn(model, iter(batches), num_batches=3) == 3
    recalibrate_bn(reference, [b.float() / 255 for b in batches[:3]], num_batches=3)
    torch.testing.assert_close(model.layers[0].bn.running_mean,
                               reference.layers[0].bn.running_mean)


def test_train_mode_is_restored(model):
    model.train()
    recalibrate_bn(model, _batches(1), num_batches=1)
    assert all(m.training for m in model.modules())


def test_no_batches_is_an_error_and_leaves_statistics_alone(model):
    before = model.layers[0].bn.running_mean.clone()
    with pytest.raises(EdgepruneError, match="got no batches"):
        recalibrate_bn(model, iter([]), num_batches=4)
    assert torch.equal(model.layers[0].bn.running_mean, before)
    with pytest.raises(EdgepruneError, match="at least one batch"):
        recalibrate_bn(model, _batches(1), num_batches=0)
