"""The old home of the ONNX export, kept for scripts that import it from here: the module is
now edgeprune.onnxio.serialize (the low package models, latency, runtime and TensorRT share).
"""

from edgeprune.onnxio.serialize import (  # noqa: F401  (re-exported)
    DEFAULT_OPSET,
    INPUT_NAME,
    META_CFG,
    META_IMGSZ,
    META_NAMES,
    META_VERSION,
    OUTPUT_NAME,
    OnnxExport,
    compare_with_torch,
    export_onnx,
    onnx_bytes,
    read_onnx_metadata,
)
