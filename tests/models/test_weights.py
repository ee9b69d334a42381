"""Darknet .weights read/write."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeprune.errors import WeightsError
from edgeprune.models import create, read_darknet_weights, write_darknet_weights
from edgeprune.models.weights import WeightsHeader, darknet_float_count
from tests.helpers import randomize_weights


def _darknet_file(model, header: WeightsHeader, seed: int = 1) -> bytes:
    """A .weights file built by hand (not by our writer): header, then random floats."""
    floats = np.random.default_rng(seed).standard_normal(darknet_float_count(model))
    floats = floats.astype("<f4")
    # running variances must be positive for a usable model, but the reader must not care
    return header.to_bytes() + floats.tobytes()


@pytest.mark.parametrize("header", [WeightsHeader(0, 2, 0, 32_013_312),  # int64 seen (yolov3)
                                    WeightsHeader(0, 1, 0, 12_345)])  # old int32 seen
def test_read_then_write_gives_the_same_bytes(tmp_path, header):
    model = create("yolov3-tiny", num_classes=3, width=0.25)
    original = _darknet_file(model, header)
    source = tmp_path / "in.weights"
    source.write_bytes(original)
    fresh = create("yolov3-tiny", num_classes=3, width=0.25)
    read_header = read_darknet_weights(fresh, source)
    assert read_header == header
    target = tmp_path / "out.weights"
    write_darknet_weights(fresh, target, read_header)
    assert target.read_bytes() == original


def test_values_land_in_darknet_order(tmp_path):
    model = randomize_weights(create("yolov3", num_classes=2, width=0.125))
    path = tmp_path / "m.weights"
    write_darknet_weights(model, path, WeightsHeader(0, 2, 0, 7))
    floats = np.frombuffer(path.read_bytes()[20:], dtype="<f4")
    first = model.layers[0]  # BN conv: bias, scale, mean, variance, then weights
    n = first.conv.out_channels
    np.testing.assert_array_equal(floats[:n], first.bn.bias.detach().numpy())
    np.testing.assert_array_equal(floats[n:2 * n], first.bn.weight.detach().numpy())
    np.testing.assert_array_equal(floats[2 * n:3 * n], first.bn.running_mean.numpy())
    np.testing.assert_array_equal(floats[3 * n:4 * n], first.bn.running_var.numpy())
    head = model.layers[-2]  # linear conv without BN: bias then weights, at the very end
    tail = floats[-(head.conv.bias.numel() + head.conv.weight.numel()):]
    np.testing.assert_array_equal(tail[:head.conv.bias.numel()],
                                  head.conv.bias.detach().numpy())
    copy = create("yolov3", num_classes=2, width=0.125)
    read_darknet_weights(copy, path)
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):  # training bookkeeping, not in Darknet files
            torch.testing.assert_close(copy.state_dict()[key], value)


def test_truncated_and_oversized_files_state_floats_expected_and_found(tmp_path):
    model = create("yolov3-tiny", num_classes=3, width=0.25)
    expected = darknet_float_count(model)
    data = _darknet_file(model, WeightsHeader())
    short = tmp_path / "short.weights"
    short.write_bytes(data[:-400])
    with pytest.raises(WeightsError) as info:
        read_darknet_weights(model, short)
    assert f"needs {expected:,} floats" in str(info.value)
    assert f"holds {expected - 100:,}" in str(info.value) and "truncated" in str(info.value)
    assert str(short) in str(info.value)
    long = tmp_path / "long.weights"
    long.write_bytes(data + b"\0" * 8)
    with pytest.raises(WeightsError, match=f"holds {expected + 2:,} .*larger than the network"):
        read_darknet_weights(model, long)
    with pytest.raises(WeightsError, match="too short for a Darknet header"):
        (tmp_path / "tiny.weights").write_bytes(b"\0" * 5)
        read_darknet_weights(model, tmp_path / "tiny.weights")
    with pytest.raises(WeightsError, match="file not found"):
        read_darknet_weights(model, tmp_path / "missing.weights")


def test_partial_backbone_file_with_an_explicit_cutoff(tmp_path):
    full = randomize_weights(create("yolov3", num_classes=2, width=0.125))
    write_darknet_weights(full, tmp_path / "full.weights")
    cutoff = 75  # darknet53.conv.74 holds the convs of layers 0..74
    count = darknet_float_count(full, upto=cutoff)
    backbone = tmp_path / "backbone.weights"
    backbone.write_bytes((tmp_path / "full.weights").read_bytes()[:20 + 4 * count])
    fresh = create("yolov3", num_classes=2, width=0.125)
    read_darknet_weights(fresh, backbone, upto=cutoff)
    torch.testing.assert_close(fresh.layers[73].conv.weight, full.layers[73].conv.weight)
    assert not torch.equal(fresh.layers[75].conv.weight, full.layers[75].conv.weight)
    with pytest.raises(WeightsError, match="truncated"):
        read_darknet_weights(create("yolov3", num_classes=2, width=0.125), backbone)
