"""Parity with an independent Darknet reader (OpenCV's cv2.dnn.readNetFromDarknet).

Our .cfg/.weights go into OpenCV; our ONNX export of the same model goes into ONNX Runtime; the
detections on the same image must agree (boxes within 1 px, scores within 1e-3).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edgeprune.export.opencv_check import (
    compare_detections,
    opencv_darknet_detections,
    opencv_has_darknet,
)
from edgeprune.models import builtin_cfg, write_cfg_text, write_darknet_weights
from edgeprune.models.cfg import ConvLayer, RouteLayer
from edgeprune.models.darknet import DarknetModel
from edgeprune.models.graph import residual_blocks
from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.postprocess import decode_rows
from tests.helpers import randomize_weights

pytestmark = pytest.mark.skipif(not opencv_has_darknet(),
                                reason="OpenCV without Darknet reader (need <5)")

SIZE = 128


def _scene() -> np.ndarray:
    """A deterministic BGR test image with shapes and texture."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 60, (240, 320, 3), dtype=np.uint8)
    cv2.rectangle(image, (40, 60), (120, 160), (30, 30, 220), -1)
    cv2.circle(image, (220, 120), 50, (220, 120, 20), -1)
    cv2.putText(image, "3", (200, 140), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
    return image


def _drop_blocks(cfg, drop: set[int]):
    """The cfg without residual blocks `drop`, absolute route indices renumbered."""
    removed = sorted(i for b in residual_blocks(cfg) if b.index in drop for i in b.layers)
    kept = [i for i in range(len(cfg.layers)) if i not in removed]
    new_index = {old: new for new, old in enumerate(kept)}
    layers = []
    for old in kept:
        layer = cfg.layers[old]
        if isinstance(layer, RouteLayer):
            refs = tuple(r if r < 0 else new_index[r] for r in layer.layers)
            layer = dataclasses.replace(layer, layers=refs)
        layers.append(layer)
    return cfg.replace(layers=tuple(layers))


def _irregular_pruned_yolov3():
    """yolov3 with blocks removed and odd channel counts (4, 7, 13) as a pruner would leave."""
    cfg = builtin_cfg("yolov3", num_classes=3, width=0.25, imgsz=SIZE)
    layers = list(cfg.layers)
    blocks = residual_blocks(cfg)

    def set_filters(index, filters):
        layers[index] = dataclasses.replace(layers[index], filters=filters)

    for block, filters in zip(blocks[:12], [4, 7, 13, 5, 9, 4, 7, 13, 11, 6, 4, 7], strict=True):
        set_filters(block.start, filters)  # a block's inner conv: free width
    set_filters(5, 13)  # stage 2's channel set: downsampling conv and both block outputs
    for block in blocks[1:3]:
        set_filters(block.end - 1, 13)
    for index in (75, 77, 79, 84, 87, 96):  # neck convs
        set_filters(index, (index % 3) * 5 + 4)
    cfg = cfg.replace(layers=tuple(layers))
    return _drop_blocks(cfg, {4, 5, 14, 20, 21})


CASES = {
    "yolov3": lambda: builtin_cfg("yolov3", num_classes=3, width=0.125, imgsz=SIZE),
    "yolov3-tiny": lambda: builtin_cfg("yolov3-tiny", num_classes=3, width=0.25, imgsz=SIZE),
    "yolov3-spp": lambda: builtin_cfg("yolov3-spp", num_classes=3, width=0.125, imgsz=SIZE),
    "pruned-irregular": _irregular_pruned_yolov3,
}


@pytest.mark.parametrize("case", list(CASES))
def test_onnx_in_ort_equals_opencv_darknet_reader(tmp_path, case):
    cfg = CASES[case]()
    if case == "pruned-irregular":
        widths = {layer.filters for layer in cfg.layers if isinstance(layer, ConvLayer)}
        assert {4, 7, 13} <= widths
        assert len(residual_blocks(cfg)) == 23 - 5
    model = randomize_weights(DarknetModel(cfg), seed=11)
    (tmp_path / "m.cfg").write_text(write_cfg_text(cfg))
    write_darknet_weights(model, tmp_path / "m.weights")
    export_onnx(model, tmp_path / "m.onnx", (SIZE, SIZE))

    blob = cv2.dnn.blobFromImage(_scene(), 1 / 255.0, (SIZE, SIZE), swapRB=True, crop=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    ours = decode_rows(session.run(None, {"images": blob})[0][0], conf_threshold=0.5)
    theirs = opencv_darknet_detections(tmp_path / "m.cfg", tmp_path / "m.weights", blob,
                                       conf_threshold=0.5)
    assert len(ours) > 0, "the check is only meaningful with detections"
    agreement = compare_detections(ours, theirs)
    assert agreement.count_a == agreement.count_b
    assert agreement.max_box_diff <= 1.0
    assert agreement.max_score_diff <= 1e-3
