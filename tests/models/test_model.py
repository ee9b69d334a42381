"""The torch module built from cfg records: sizes, counts and the Darknet yolo decode."""

from __future__ import annotations

import pytest
import torch

from edgeprune.models import builtin_cfg, create, parse_cfg
from edgeprune.models.counting import count_gflops, count_params
from edgeprune.models.graph import residual_blocks


def test_yolov3_parameter_counts_match_published_figures():
    assert count_params(builtin_cfg("yolov3", num_classes=80)) == 61_949_149
    # the figure in the ABCP paper's table for their 5-class RoboMaster model
    assert count_params(builtin_cfg("yolov3", num_classes=5)) == 61_545_274


def test_torch_module_has_exactly_the_counted_parameters():
    for name in ("yolov3-tiny", "yolov3-spp"):
        cfg = builtin_cfg(name, num_classes=5, width=0.5)
        model = create(name, num_classes=5, width=0.5)
        assert sum(p.numel() for p in model.parameters()) == count_params(cfg)


def test_gflops_close_to_darknets_own_count():
    # Darknet prints 65.879 BFLOPs for yolov3 at 416 and 5.571 for yolov3-tiny
    assert count_gflops(builtin_cfg("yolov3"), (416, 416)) == pytest.approx(65.879, rel=0.02)
    assert count_gflops(builtin_cfg("yolov3-tiny"), (416, 416)) == pytest.approx(5.571, rel=0.02)


def test_residual_blocks_of_builtins():
    blocks = residual_blocks(builtin_cfg("yolov3"))
    assert len(blocks) == 23
    assert (blocks[0].start, blocks[0].end) == (2, 4)
    assert (blocks[-1].start, blocks[-1].end) == (72, 74)
    assert residual_blocks(builtin_cfg("yolov3-tiny")) == []


@pytest.mark.parametrize("name,strides", [("yolov3", (32, 16, 8)), ("yolov3-tiny", (32, 16)),
                                          ("yolov3-spp", (32, 16, 8))])
def test_eval_output_contract(name, strides):
    model = create(name, num_classes=4, width=0.125)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 96, 128))
    rows = sum(3 * (96 // s) * (128 // s) for s in strides)
    assert out.shape == (2, rows, 5 + 4)
    assert torch.all((out[..., 4:] >= 0) & (out[..., 4:] <= 1))
    model.train()
    raw = model(torch.rand(2, 3, 96, 128))
    assert [tuple(r.shape) for r in raw] == [(2, 3, 96 // s, 128 // s, 9) for s in strides]


def test_yolo_decode_follows_darknet_formula():
    cfg = parse_cfg("""
[net]
width=64
height=32
channels=3
[convolutional]
filters=14
size=1
stride=32
pad=0
activation=linear
[yolo]
mask=1,2
anchors=5,6, 10,20, 30,40
classes=2
num=3
scale_x_y=1.1
""")
    from edgeprune.models.darknet import DarknetModel

    model = DarknetModel(cfg).eval()
    image = torch.rand(1, 3, 32, 64)
    with torch.no_grad():
        out = model(image)
        raw = model.layers[0](image)[0]  # (14, 1, 2): 2 anchors x 7 outputs, 1x2 grid
    assert out.shape == (1, 2 * 1 * 2, 7)
    p = raw.view(2, 7, 1, 2)
    anchor, y, x = 1, 0, 1  # row index = anchor * (H * W) + y * W + x
    row = out[0, anchor * 2 + y * 2 + x]
    s = 1.1
    cx = (torch.sigmoid(p[anchor, 0, y, x]) * s - (s - 1) / 2 + x) * 32
    cy = (torch.sigmoid(p[anchor, 1, y, x]) * s - (s - 1) / 2 + y) * 32
    w = torch.exp(p[anchor, 2, y, x]) * 30
    h = torch.exp(p[anchor, 3, y, x]) * 40
    expected = torch.stack([cx, cy, w, h, *torch.sigmoid(p[anchor, 4:, y, x])])
    torch.testing.assert_close(row, expected)


def test_create_rejects_bad_arguments():
    from edgeprune.errors import EdgepruneError

    with pytest.raises(EdgepruneError, match="unknown built-in model 'yolov4'"):
        create("yolov4")
    with pytest.raises(EdgepruneError, match="width multiplier"):
        create("yolov3", width=0)
