"""Pruned models written as Darknet files mean the same to OpenCV's independent Darknet reader
as our ONNX export of the same model does to ONNX Runtime: same detections, boxes within 1 px.
"""

from __future__ import annotations

import pytest

from edgeprune.export.opencv_check import opencv_has_darknet
from edgeprune.models import create
from edgeprune.models.cfg import ConvLayer
from edgeprune.prune import PruneSpec, apply_spec, prune_space
from tests.helpers import randomize_weights
from tests.prune.prune_helpers import grouped_model, opencv_agreement

pytestmark = pytest.mark.skipif(not opencv_has_darknet(),
                                reason="needs opencv-python-headless<5 (cv2.dnn Darknet reader)")
IMGSZ = 96


def _filters(model) -> set[int]:
    return {layer.filters for layer in model.cfg.layers if isinstance(layer, ConvLayer)}


def _assert_agrees(model, folder):
    agreement = opencv_agreement(model, IMGSZ, folder)
    assert agreement.count_a >= 10, agreement  # a comparison of nothing proves nothing
    assert agreement.agrees(box_tolerance=1.0), agreement


@pytest.mark.parametrize("name", ["yolov3", "yolov3-tiny", "yolov3-spp"])
def test_pruned_and_pruned_again_agree_with_opencv(name, tmp_path):
    base = randomize_weights(create(name, num_classes=3, width=0.25, imgsz=IMGSZ))
    blocks = len(prune_space(base.cfg).blocks)
    first = apply_spec(base, PruneSpec.create(drop_blocks=range(1, blocks, 3),
                                              default_ratio=0.43, round_to=1, min_channels=1))
    assert {3, 7, 14} <= _filters(first)  # heavily pruned, irregular widths
    _assert_agrees(first, tmp_path / "first")

    space = prune_space(first.cfg)
    spec = PruneSpec.create(drop_blocks=[0] if space.blocks else [], default_ratio=0.61,
                            ratios={space.groups[3].key: 0.3}, round_to=1, min_channels=1)
    second = apply_spec(first, spec, importance="bn_scale")
    assert _filters(second) - _filters(first)  # new irregular widths from irregular ones
    _assert_agrees(second, tmp_path / "second")


def test_grouped_route_model_agrees_with_opencv(tmp_path):
    model = apply_spec(randomize_weights(grouped_model()),
                       PruneSpec.uniform(0.6, round_to=1, min_channels=1))
    assert [layer.filters for layer in model.cfg.layers if isinstance(layer, ConvLayer)] == [
        5, 16, 5, 5, 16, 32, 10, 24]
    _assert_agrees(model, tmp_path)
