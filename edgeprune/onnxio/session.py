"""The ONNX Runtime setting of every session that may run an int8 model: exact int8 kernels.

ONNX Runtime runs int8 convolutions and matrix products on x86 as u8 x s8: it turns int8
activations into uint8 by adding 128 (QDQS8ToU8Transformer), then multiplies with VPMADDUBSW,
which adds neighbouring products into an int16 and saturates there on CPUs without VNNI
(AVX2, AVX-512 without VNNI). Symmetric int8 activations, the zero point 0 TensorRT requires,
become uint8 around 128, so two products of a bright pixel and a large weight (2 x 255 x 127)
clip: on an AVX2-only AMD EPYC the QDQ detector's first convolution matched the exact int8
result with a correlation of 0.70 and its class scores the float model's with 0.55.
`session.x64quantprecision` makes ONNX Runtime use u8 x u8 kernels on x86 instead (no
saturation; about 1.25x the time of the saturating ones at 256 px on that CPU, no difference at
64 px). ONNX Runtime applies it wherever its u8 x s8 and u8 x u8 kernels differ, which may
include VNNI CPUs that do not saturate; it is set on every session anyway, since right results
come before speed. Float models and other architectures are untouched. ONNX Runtime 1.31 and
1.32 behave the same, with and without it.
"""

from __future__ import annotations

EXACT_INT8_KEY = "session.x64quantprecision"


def exact_int8(options):
    """`options` (an onnxruntime.SessionOptions) with int8 kernels that do not saturate."""
    options.add_session_config_entry(EXACT_INT8_KEY, "1")
    return options
