"""INT8 without TensorRT's calibrators: a QDQ graph calibrated on the set's images.

TensorRT deprecated implicit quantization (calibrators) in 10.1; where a TensorRT no longer has
them, the engine is built from an explicitly quantized (QDQ) ONNX model instead. Its scales
come from ONNX Runtime's entropy calibration over the same images and pre-processing, with the
symmetric int8 scales TensorRT requires. The QDQ model also runs in ONNX Runtime, which is how
it is checked on machines without a GPU.
"""

from __future__ import annotations

from edgeprune.calib.calibset import CalibSet

QDQ_BATCH = 1
# Convolutions carry the int8 speed-up; the box decoding after them (exp, anchors, grid) and
# the -inf padding of stride-1 max pools stay in floating point.
QUANTIZED_OPS = ["Conv"]


def quantize_with_calib_set(onnx_model: bytes, calib: CalibSet,
                            imgsz: tuple[int, int]) -> bytes:
    """`onnx_model` with QuantizeLinear/DequantizeLinear pairs calibrated on `calib`."""
    from edgeprune.onnxio.precision import quantize_int8
    from edgeprune.trt.build import onnx_input_name

    size = calib.input_size(imgsz)
    return quantize_int8(onnx_model, onnx_input_name(onnx_model), (QDQ_BATCH, 3, *size),
                         symmetric=True, calibration=calib.batches(size, QDQ_BATCH),
                         entropy=True, op_types=QUANTIZED_OPS)
