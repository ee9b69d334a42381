"""One-layer ONNX models, built directly with onnx.helper, for the latency lookup table.

They mirror what our export emits for each Darknet layer (batch norm folded into the conv's
bias, Darknet's activations, Darknet's asymmetric maxpool padding, nearest upsampling), so a
layer timed alone runs the same kernels as inside the whole model.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# Part of a unit's key in a device server's cache (server_units.py): bump it with any change
# here that changes what a unit runs, so units timed before are not reused.
MODELS_VERSION = 1


def _model(nodes, initializers, in_shape, name) -> bytes:
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString()


def _activation(name: str, source: str, target: str) -> list:
    if name == "leaky":
        return [helper.make_node("LeakyRelu", [source], [target], alpha=0.1)]
    if name == "relu":
        return [helper.make_node("Relu", [source], [target])]
    if name == "logistic":
        return [helper.make_node("Sigmoid", [source], [target])]
    if name == "mish":
        return [helper.make_node("Softplus", [source], ["sp"]),
                helper.make_node("Tanh", ["sp"], ["th"]),
                helper.make_node("Mul", [source, "th"], [target])]
    if name == "swish":
        return [helper.make_node("Sigmoid", [source], ["sg"]),
                helper.make_node("Mul", [source, "sg"], [target])]
    return [helper.make_node("Identity", [source], [target])]  # linear


def conv_onnx(in_channels: int, out_channels: int, size: int, stride: int, padding: int,
              groups: int, activation: str, input_hw: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((out_channels, in_channels // groups, size, size)) * 0.05)
    bias = np.zeros(out_channels, dtype=np.float32)
    initializers = [numpy_helper.from_array(weight.astype(np.float32), "w"),
                    numpy_helper.from_array(bias, "b")]
    conv = helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[size, size],
                            strides=[stride, stride], pads=[padding] * 4, group=groups)
    return _model([conv, *_activation(activation, "c", "y")], initializers,
                  (1, in_channels, *input_hw), "edgeprune-lut-conv")


def maxpool_onnx(channels: int, size: int, stride: int, total_padding: int,
                 input_hw: tuple[int, int]) -> bytes:
    before = total_padding // 2
    pads_after = []
    for length in input_hw:
        out = (length + total_padding - size) // stride + 1
        pads_after.append(max(0, (out - 1) * stride + size - length - before))
    pool = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[size, size],
                            strides=[stride, stride], pads=[before, before, *pads_after])
    return _model([pool], [], (1, channels, *input_hw), "edgeprune-lut-maxpool")


def upsample_onnx(channels: int, stride: int, input_hw: tuple[int, int]) -> bytes:
    scales = numpy_helper.from_array(np.array([1, 1, stride, stride], dtype=np.float32),
                                     "scales")
    resize = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")
    return _model([resize], [scales], (1, channels, *input_hw), "edgeprune-lut-upsample")


def identity_onnx() -> bytes:
    """A model that does nothing: its latency is the runtime's fixed cost per run."""
    return _model([helper.make_node("Identity", ["x"], ["y"])], [], (1, 1, 8, 8),
                  "edgeprune-lut-identity")
