"""ONNX in and out: a model's ONNX export and its contract (serialize.py), the fp16 and int8
variants of an ONNX model (precision.py), and the ONNX Runtime setting every int8 session
needs (session.py). The low layer that models, latency, runtime, TensorRT and export share.

Named onnxio, not onnx, so that `import onnx` (the library) and this package are never
confused when reading, nor shadowed when a module here is run from inside the folder.
"""
