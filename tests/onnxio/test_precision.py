"""fp16 and int8 variants of a float32 ONNX model (what the latency backends measure)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgeprune.models import create
from edgeprune.onnxio.precision import convert_fp16, quantize_int8, random_input
from edgeprune.onnxio.serialize import onnx_bytes


@pytest.fixture(scope="module")
def tiny_onnx() -> bytes:
    return onnx_bytes(create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64), (64, 64))


def test_fp16_conversion_keeps_float32_io(tiny_onnx):
    proto = onnx.load_from_string(convert_fp16(tiny_onnx))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    kinds = {t.data_type for t in proto.graph.initializer if np.prod(t.dims) > 16}
    assert onnx.TensorProto.FLOAT16 in kinds


def test_int8_is_a_qdq_graph_calibrated_on_seeded_random_images(tiny_onnx):
    ops = {n.op_type for n in onnx.load_from_string(
        quantize_int8(tiny_onnx, "images", (1, 3, 64, 64))).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    first = random_input((1, 3, 8, 8), np.float32, seed=1)
    assert first.min() >= 0 and first.max() <= 1
    assert np.array_equal(first, random_input((1, 3, 8, 8), np.float32, seed=1))
