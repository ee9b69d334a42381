"""Darknet cfg parsing, writing and validation."""

from __future__ import annotations

import dataclasses

import pytest

from edgeprune.errors import CfgError
from edgeprune.models import builtin_cfg, parse_cfg, read_cfg, write_cfg_text
from edgeprune.models.cfg import (
    ConvLayer,
    MaxpoolLayer,
    RouteLayer,
    ShortcutLayer,
    UpsampleLayer,
    YoloLayer,
)

# Every section type and every key the issue lists, incl. yolov3-tiny's size=2 stride=1 maxpool,
# grouped routes and absolute route indices, written in Darknet's loose style (spaces, comments).
FEATURES_CFG = """
# a comment
[net]
batch=1
width=64
height = 64
channels=3
learning_rate=0.001

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=mish

[maxpool]
size=2
stride=1

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=swish

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=relu

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[shortcut]
from=-3
activation=linear

[route]
layers=-1
groups=2
group_id=1

[route]
layers = -1, 3
; another comment

[maxpool]
size=2
stride=2

[upsample]
stride=2

[convolutional]
filters=24
size=1
stride=1
pad=1
activation=linear

[yolo]
mask = 0,1
anchors = 10,13,  16,30,  33,23.5
classes=7
num=3
scale_x_y = 1.05
jitter=.3
ignore_thresh = .7
"""


def test_parse_reads_every_section_and_key():
    cfg = parse_cfg(FEATURES_CFG, "features.cfg")
    assert (cfg.net.width, cfg.net.height, cfg.net.channels) == (64, 64, 3)
    assert dict(cfg.net.extra) == {"batch": "1", "learning_rate": "0.001"}
    kinds = [type(layer) for layer in cfg.layers]
    assert kinds == [ConvLayer, MaxpoolLayer, ConvLayer, ConvLayer, ConvLayer, ShortcutLayer,
                     RouteLayer, RouteLayer, MaxpoolLayer, UpsampleLayer, ConvLayer, YoloLayer]
    conv = cfg.layers[0]
    assert (conv.filters, conv.size, conv.stride, conv.pad, conv.batch_normalize,
            conv.activation) == (8, 3, 1, True, True, "mish")
    assert [cfg.layers[i].activation for i in (2, 3, 4, 10)] == ["swish", "relu", "leaky",
                                                                "linear"]
    assert (cfg.layers[1].size, cfg.layers[1].stride) == (2, 1)
    assert cfg.layers[5].from_ == -3 and cfg.source_indices(5) == (4, 2)
    assert (cfg.layers[6].groups, cfg.layers[6].group_id) == (2, 1)
    assert cfg.layers[7].layers == (-1, 3) and cfg.source_indices(7) == (6, 3)
    yolo = cfg.layers[11]
    assert yolo.mask == (0, 1) and yolo.num == 3 and yolo.classes == 7
    assert yolo.anchors == ((10, 13), (16, 30), (33, 23.5))
    assert yolo.scale_x_y == pytest.approx(1.05)
    assert dict(yolo.extra) == {"jitter": ".3", "ignore_thresh": ".7"}


@pytest.mark.parametrize("name", ["yolov3", "yolov3-tiny", "yolov3-spp"])
@pytest.mark.parametrize("width", [1.0, 0.3])
def test_write_then_parse_is_identity(name, width):
    cfg = builtin_cfg(name, num_classes=5, width=width)
    assert parse_cfg(write_cfg_text(cfg)) == cfg


def test_round_trip_keeps_extras_and_odd_values():
    cfg = parse_cfg(FEATURES_CFG, "features.cfg")
    text = write_cfg_text(cfg)
    assert parse_cfg(text) == cfg
    assert write_cfg_text(parse_cfg(text)) == text


def test_builtin_layout_matches_published_yolov3():
    cfg = builtin_cfg("yolov3")
    assert len(cfg.layers) == 107
    assert cfg.yolo_indices == (82, 94, 106)
    assert cfg.source_indices(86) == (85, 61) and cfg.source_indices(98) == (97, 36)
    assert cfg.source_indices(83) == (79,)
    tiny = builtin_cfg("yolov3-tiny")
    assert len(tiny.layers) == 24 and tiny.yolo_indices == (16, 23)
    assert tiny.source_indices(20) == (19, 8)
    assert (tiny.layers[11].size, tiny.layers[11].stride) == (2, 1)
    spp = builtin_cfg("yolov3-spp")
    assert len(spp.layers) == 114 and spp.yolo_indices == (89, 101, 113)
    assert spp.source_indices(83) == (82, 80, 78, 77)


def _replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize("old,new,fragment,problem", [
    ("[upsample]", "[upsampel]", "[upsampel]", "unknown section [upsampel]"),
    ("filters=16\nsize=3\nstride=2", "filters=sixteen\nsize=3\nstride=2", "filters=sixteen",
     "filters: expected an integer, got 'sixteen'"),
    ("layers = -1, 3", "layers = -1, 30", "[route]", "refers to layer 30, which does not exist"),
    ("activation=mish", "activation=gelu", "activation=gelu", "activation: unknown value 'gelu'"),
    ("filters=24", "filters=25", "[convolutional]", "needs 2 x (7 + 5) = 24"),
    ("stride=2\npad=1\nactivation=swish", "stride=2\npad=1\nactivaton=swish", "activaton=",
     "unknown key 'activaton' in [convolutional]"),
    ("from=-3", "from=-3\nweights_type=per_channel", "weights_type",
     "weights_type=per_channel is not supported"),
    ("mask = 0,1", "mask = 0,5", "mask = 0,5", "mask: index 5 is outside the 3 anchors"),
    ("width=64", "width=64\nwidth=32", "width=32", "key 'width' given twice"),
])
def test_malformed_cfg_errors_name_file_line_and_problem(tmp_path, old, new, fragment, problem):
    text = _replace_line(FEATURES_CFG, old, new)
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    with pytest.raises(CfgError) as info:
        read_cfg(path)
    message = str(info.value)
    assert problem in message
    assert message.startswith(f"{path}:")
    if fragment.startswith("["):
        # errors about a whole layer point at its section header
        assert info.value.line is not None
        assert text.splitlines()[info.value.line - 1].strip().startswith("[")
    else:
        assert info.value.line == _line_of(text, fragment)


def test_route_to_missing_layer_in_shortcut_points_at_its_section(tmp_path):
    text = _replace_line(FEATURES_CFG, "from=-3", "from=-30")
    with pytest.raises(CfgError, match=r"features.cfg:\d+: layer 5 \(shortcut\) refers to layer "
                                       r"-25"):
        parse_cfg(text, "features.cfg")


def test_shape_mismatch_and_structure_errors():
    text = _replace_line(FEATURES_CFG, "layers = -1, 3", "layers = -1, 0")
    with pytest.raises(CfgError, match="route joins outputs of different sizes"):
        parse_cfg(text, "x.cfg")
    with pytest.raises(CfgError, match="must start with a \\[net\\] section"):
        parse_cfg("[convolutional]\nfilters=1\n", "x.cfg")
    with pytest.raises(CfgError, match="x.cfg:2: expected 'key=value'"):
        parse_cfg("[net]\nwidth 416\n", "x.cfg")
    with pytest.raises(CfgError, match="no layers"):
        parse_cfg("[net]\nwidth=416\n", "x.cfg")


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(CfgError, match="file not found"):
        read_cfg(tmp_path / "nope.cfg")
    binary = tmp_path / "yolov3.weights"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CfgError, match="not a text file"):
        read_cfg(binary)


def test_records_ignore_line_numbers_in_equality():
    cfg = parse_cfg(FEATURES_CFG, "a.cfg")
    shifted = parse_cfg("\n\n\n" + FEATURES_CFG, "b.cfg")
    assert cfg == shifted
    assert cfg.layers[0].line + 3 == shifted.layers[0].line
    assert dataclasses.replace(cfg.layers[0], filters=9) != cfg.layers[0]
