"""TensorRT: engine building with its timing cache (build.py), the engine file and its sidecar
(engine_file.py), the int8 entropy calibrator fed from a calib/ set (calibrator.py) and the QDQ
graph for TensorRTs without calibrators (qdq.py). The latency backend `tensorrt`, the
Detector's `tensorrt` engine and `edgeprune export --format engine` all use this package.

TensorRT and cuda-python are imported only inside the functions that need them, so importing
this package works on a machine without either. Named trt, not tensorrt, so that the library
(`import tensorrt`) and this package are never confused.
"""
