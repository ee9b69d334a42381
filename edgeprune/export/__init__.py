"""Export: a TensorRT engine from edgeprune's ONNX export (engine.py) and the OpenCV parity
checks of exported files (opencv_check.py). The ONNX export itself is edgeprune.onnxio and the
Darknet files are edgeprune.models.darknet_files; onnx.py and darknet.py here re-export them
for scripts written against the old paths."""
