"""ONNX export: contract, metadata, agreement with torch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.models import create, parse_cfg
from edgeprune.onnxio.serialize import (
    META_CFG,
    META_IMGSZ,
    META_NAMES,
    export_onnx,
    onnx_bytes,
    read_onnx_metadata,
)
from tests.helpers import randomize_weights


def _normalized(rows: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes as fractions of the input size, scores as they are."""
    return rows / np.array([width, height, width, height] + [1] * (rows.shape[-1] - 4))


@pytest.mark.parametrize("name", ["yolov3", "yolov3-tiny", "yolov3-spp"])
def test_onnx_matches_torch_within_1e_4(tmp_path, name):
    """Within 1e-4 on boxes relative to the input size and on probabilities.

    In pixels the float32 noise of two runtimes (~1e-5 relative after a hundred layers) is
    already ~1e-3 px on a 100 px box, so absolute pixels are not the right scale.
    """
    model = randomize_weights(create(name, num_classes=3, width=0.125), head_gain=1.0)
    result = export_onnx(model, tmp_path / "m.onnx", (128, 96), ["a", "b", "c"])
    assert result.max_abs_diff is not None and result.max_abs_diff < 0.05  # pixels
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    image = torch.rand(3, 3, 128, 96, generator=torch.Generator().manual_seed(5))
    got = session.run(None, {"images": image.numpy()})[0]  # batch 3 through a dynamic axis
    with torch.no_grad():
        expected = model(image).numpy()
    assert got.shape == expected.shape == (3, expected.shape[1], 8)
    assert np.abs(_normalized(got, 128, 96) - _normalized(expected, 128, 96)).max() < 1e-4


def test_onnx_carries_contract_and_metadata(tmp_path):
    model = create("yolov3-tiny", num_classes=2, width=0.25)
    export_onnx(model, tmp_path / "m.onnx", (64, 64), ["red", "blue"])
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["images"]
    assert [o.name for o in proto.graph.output] == ["detections"]
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    # the box count and the columns are numbers, not generated names (Concatdetections_dim_1)
    assert [d.dim_value for d in dims[1:]] == [3 * (2 * 2 + 4 * 4), 7]
    static = onnx.load_from_string(onnx_bytes(model, (64, 96), ["red", "blue"],
                                              dynamic_batch=False, batch=2))
    assert [d.dim_value for d in static.graph.output[0].type.tensor_type.shape.dim] == [
        2, 3 * (2 * 3 + 4 * 6), 7]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {"images": np.zeros((1, 3, 64, 64), np.float32)})[0]
    assert out.shape == (1, 3 * (2 * 2 + 4 * 4), 7)  # anchors x H x W over both heads
    meta = read_onnx_metadata(tmp_path / "m.onnx")
    assert json.loads(meta[META_NAMES]) == ["red", "blue"]
    assert json.loads(meta[META_IMGSZ]) == [64, 64]
    assert parse_cfg(meta[META_CFG]) == model.cfg


def test_old_opset_and_bad_onnx_files_are_refused(tmp_path):
    model = create("yolov3-tiny", num_classes=2, width=0.25)
    with pytest.raises(EdgepruneError, match="opset 13 is too old"):
        export_onnx(model, None, (64, 64), opset=13)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08garbage")
    with pytest.raises(EdgepruneError, match="bad.onnx: not a loadable ONNX model"):
        read_onnx_metadata(bad)
