"""int8 QDQ models run exactly in ONNX Runtime: x86 CPUs without VNNI add pairs of u8 x s8
products into a saturating int16 unless the session asks for exact kernels (onnxio/session.py).

The model is one symmetric int8 convolution (zero points 0, as TensorRT requires) fed where
that saturation bites: every input at +127 and weights of up to 127. On a CPU without the
problem (VNNI, ARM) it passes either way; on an AVX2-only one it fails without the setting.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeprune.latency.backends.ort import load_session, session_options
from edgeprune.runtime.backends import OrtRuntime

CHANNELS_OUT = 6
OUTPUT_SCALE = 0.1


def _symmetric_int8_conv() -> tuple[bytes, np.ndarray]:
    """A QDQ Conv (1, 3, 2, 2) -> detection rows (1, 1, 6), and its int8 weights."""
    weights = np.full((CHANNELS_OUT, 3, 2, 2), 127, np.int8)
    weights[:, 0] = (np.arange(CHANNELS_OUT) * 20 - 50)[:, None, None]  # a row per channel
    scalar = {"input_scale": np.float32(1 / 127), "weight_scale": np.float32(1 / 127),
              "output_scale": np.float32(OUTPUT_SCALE), "zero": np.int8(0)}
    initializers = [numpy_helper.from_array(np.array(v), k) for k, v in scalar.items()]
    initializers += [numpy_helper.from_array(weights, "weights_int8"),
                     numpy_helper.from_array(np.array([1, 1, CHANNELS_OUT], np.int64), "rows")]
    nodes = [
        helper.make_node("QuantizeLinear", ["images", "input_scale", "zero"], ["x_int8"]),
        helper.make_node("DequantizeLinear", ["x_int8", "input_scale", "zero"], ["x"]),
        helper.make_node("DequantizeLinear", ["weights_int8", "weight_scale", "zero"], ["w"]),
        helper.make_node("Conv", ["x", "w"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "output_scale", "zero"], ["y_int8"]),
        helper.make_node("DequantizeLinear", ["y_int8", "output_scale", "zero"], ["y_float"]),
        helper.make_node("Reshape", ["y_float", "rows"], ["detections"]),
    ]
    graph = helper.make_graph(
        nodes, "symmetric-int8-conv",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 2, 2])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, [1, 1, CHANNELS_OUT])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), weights


@pytest.fixture(scope="module")
def conv_case():
    model, weights = _symmetric_int8_conv()
    images = np.ones((1, 3, 2, 2), np.float32)  # int8 +127 everywhere, uint8 255 inside ORT
    # int32 accumulation, as the QDQ graph means it and as TensorRT computes it
    accumulated = weights.astype(np.int64).reshape(CHANNELS_OUT, -1).sum(1) * 127
    expected = np.clip(np.round(accumulated / 127 / 127 / OUTPUT_SCALE), -128, 127)
    return model, images, expected * OUTPUT_SCALE


def test_detector_engine_runs_symmetric_int8_without_saturation(conv_case):
    model, images, expected = conv_case
    rows = OrtRuntime(model, device="cpu").run(images)
    np.testing.assert_allclose(rows.ravel(), expected, atol=1e-5)


def test_latency_sessions_run_the_same_int8_kernels(conv_case):
    model, images, expected = conv_case
    session = load_session(model, session_options(1), ["CPUExecutionProvider"])
    rows = session.run(None, {"images": images})[0]
    np.testing.assert_allclose(rows.ravel(), expected, atol=1e-5)
