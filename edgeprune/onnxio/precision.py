"""Lower-precision variants of a float32 ONNX model, for measuring their latency (the latency
backends) and for TensorRT's explicit int8 quantization (trt/qdq.py).

int8 is static QDQ quantization calibrated on random images: the scales are useless for
accuracy, but the kernels, and so the latency, are those of a properly calibrated model (real
calibration for deployment lives in calib/ and the export). TensorRT takes the same QDQ graph
(explicit quantization, the route TensorRT keeps supporting), with symmetric scales as it
requires. fp16 converts the graph's float tensors with onnxruntime's converter, keeping the
float32 input and output so callers feed the same images.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edgeprune.errors import ModelRejected

CALIBRATION_IMAGES = 2


def random_input(shape: tuple[int, ...], dtype: np.dtype, seed: int = 0) -> np.ndarray:
    """An image-like input in [0, 1]; latency does not depend on values, so any seed does."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32).astype(dtype)


def quantize_int8(model_bytes: bytes, input_name: str, input_shape: tuple[int, ...],
                  symmetric: bool = False, calibration: Iterable[np.ndarray] | None = None,
                  entropy: bool = False, op_types: list[str] | None = None) -> bytes:
    """Static QDQ int8 quantization of `model_bytes`, calibrated on random inputs or on the
    `calibration` batches (real images: calib/), by min-max or, with `entropy`, by entropy;
    `op_types` limits which operators are quantized (default: all that can be)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if calibration is None:
        calibration = (random_input(input_shape, np.float32, seed)
                       for seed in range(CALIBRATION_IMAGES))

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    options = {"ActivationSymmetric": True, "WeightSymmetric": True} if symmetric else {}
    with tempfile.TemporaryDirectory(prefix="edgeprune-int8-") as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(model_bytes)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                # Random calibration leaves some ranges empty (zero scales): harmless here.
                warnings.simplefilter("ignore")
                quantize_static(str(source), str(target), Batches(),
                                quant_format=QuantFormat.QDQ,
                                activation_type=(QuantType.QInt8 if symmetric
                                                 else QuantType.QUInt8),
                                weight_type=QuantType.QInt8, extra_options=options,
                                op_types_to_quantize=op_types,
                                calibrate_method=(CalibrationMethod.Entropy if entropy
                                                  else CalibrationMethod.MinMax))
        except Exception as exc:  # the quantizer raises whatever its passes raise
            raise ModelRejected(f"int8 quantization failed: {exc}") from None
        return target.read_bytes()


def convert_fp16(model_bytes: bytes) -> bytes:
    """The model with float16 weights and activations, float32 at its input and output."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        proto = onnx.load_from_string(model_bytes)
        return convert_float_to_float16(proto, keep_io_types=True).SerializeToString()
    except Exception as exc:
        raise ModelRejected(f"fp16 conversion failed: {exc}") from None
