"""int8 from a calibration set: the QDQ graph calibrated on its images, and TensorRT's entropy
calibrator where TensorRT exists (skipped here with the reason)."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest

from edgeprune.calib import make_calib_set
from edgeprune.data.images import read_image
from edgeprune.data.letterbox import prepare_batch
from edgeprune.models import create
from edgeprune.onnxio.serialize import onnx_bytes
from edgeprune.runtime.detector import Detector
from edgeprune.trt.qdq import quantize_with_calib_set
from tests.datagen_helpers import write_dataset
from tests.helpers import randomize_weights

TENSORRT = importlib.util.find_spec("tensorrt") is not None


def test_qdq_model_calibrated_on_the_set_runs_like_the_float_model(tmp_path):
    data, _, val_set = write_dataset(tmp_path / "shapes", train=8, val=2, height=64, width=64)
    calib = make_calib_set(data, tmp_path / "calib", 8).calib
    model = randomize_weights(create("yolov3-tiny", num_classes=3, width=0.25), seed=4,
                              imgsz=(64, 64))
    float_model = onnx_bytes(model, (64, 64), ["red_box", "green_disc", "blue_bar"])
    quantized = quantize_with_calib_set(float_model, calib, (64, 64))
    ops = {node.op_type for node in onnx.load_from_string(quantized).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    images = [read_image(s.image_path) for s in val_set.samples]
    batch, _ = prepare_batch(images, (64, 64))
    exact = Detector(float_model).runtime.run(batch)
    approx = Detector(quantized).runtime.run(batch)
    # objectness and class probabilities of int8 activations stay close to float32
    assert np.corrcoef(exact[..., 4:].ravel(), approx[..., 4:].ravel())[0, 1] > 0.95


@pytest.mark.skipif(not TENSORRT, reason="TensorRT is not installed here (its PyPI package "
                    "downloads from NVIDIA's index); runs on a Jetson or a GPU box")
def test_tensorrt_entropy_calibrator_feeds_batches_and_caches(tmp_path):
    from edgeprune.trt.calibrator import entropy_calibrator

    data, _, _ = write_dataset(tmp_path / "shapes", train=8, val=2)
    calib = make_calib_set(data, tmp_path / "calib", 8).calib
    cache = calib.cache_path("cd" * 32, (64, 64))
    calibrator = entropy_calibrator(calib, (64, 64), cache, batch_size=4)
    try:
        assert calibrator.get_batch_size() == 4
        assert len(calibrator.get_batch(["images"])) == 1
        assert calibrator.get_batch(["images"]) is not None
        assert calibrator.get_batch(["images"]) is None
        assert calibrator.read_calibration_cache() is None
        calibrator.write_calibration_cache(b"scales")
        assert calibrator.read_calibration_cache() == b"scales" and calibrator.cache_reused
    finally:
        calibrator.free()
