"""The Detector: batches of mixed sizes, original coordinates, torch vs ONNX Runtime."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from edgeprune.data.images import read_image
from edgeprune.errors import EdgepruneError
from edgeprune.export.opencv_check import compare_detections
from edgeprune.models import load_checkpoint
from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.backends import RUNTIMES, Runtime, register_runtime
from edgeprune.runtime.detector import Detector
from tests.datagen_helpers import trained_tiny_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    result, data_yaml, val_set = trained_tiny_model(tmp_path_factory.mktemp("trained"))
    images = [read_image(s.image_path) for s in val_set.samples[:6]]
    return result, val_set, images


@pytest.fixture(scope="module")
def onnx_path(trained, tmp_path_factory):
    ckpt = load_checkpoint(trained[0].best)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(ckpt.model, path, ckpt.imgsz, ckpt.names)
    return path


def _iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


class FixedRows(Runtime):
    """A backend whose model 'sees' one box at a fixed place of its input: what a detection
    at a known input position must become in each original image."""

    name = "fixed-rows-test"

    def __init__(self, source, **_):
        self.imgsz, self.num_classes = (96, 96), 2

    @classmethod
    def accepts(cls, source) -> bool:
        return False

    def run(self, batch):
        rows = np.zeros((len(batch), 2, 7), np.float32)
        rows[:, 0] = [48, 48, 20, 10, 0.9, 0.1, 0.8]  # cx, cy, w, h, obj, class probabilities
        rows[:, 1] = [10, 10, 4, 4, 0.01, 1.0, 0.0]  # below any threshold
        return rows


def test_known_input_box_maps_to_each_original_image():
    register_runtime(FixedRows)
    try:
        detector = Detector("unused", runtime="fixed-rows-test", conf_threshold=0.25)
        images = [np.zeros((480, 640, 3), np.uint8), np.zeros((200, 100, 3), np.uint8)]
        wide, tall = detector(images)
    finally:
        RUNTIMES.unregister(FixedRows.name)
    # 640x480 -> scale 0.15, pad top 12: input box 38..58 x 43..53 -> original
    np.testing.assert_allclose(wide.boxes, [[253.333, 206.667, 386.667, 273.333]], atol=1e-2)
    # 100x200 -> scale 0.48, pad left 24
    np.testing.assert_allclose(tall.boxes, [[29.1667, 89.5833, 70.8333, 110.4167]], atol=1e-2)
    assert wide.class_ids.tolist() == [1] and wide.scores[0] == pytest.approx(0.72)


class UntrainedRows(FixedRows):
    """An untrained head's rows: widths of 3e38 and inf beside one sane box."""

    name = "untrained-rows-test"

    def run(self, batch):
        rows = np.array([[48, 48, 3e38, 3e38, 0.9, 0.9, 0.0], [48, 48, np.inf, 10, 0.9, 0.9, 0.0],
                         [10, 10, 4, 4, 0.9, 0.8, 0.0]], np.float32)
        return np.stack([rows] * len(batch))


def test_untrained_boxes_are_bounded_not_overflowed():
    """Mapping those back to the original image printed numpy's overflow warning in the first
    epoch of every training: the non-finite box is dropped, the huge one clipped."""
    register_runtime(UntrainedRows)
    try:
        detector = Detector("unused", runtime="untrained-rows-test", conf_threshold=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            found = detector([np.zeros((480, 640, 3), np.uint8)])[0]
    finally:
        RUNTIMES.unregister(UntrainedRows.name)
    assert found.class_ids.tolist() == [0, 0]
    np.testing.assert_allclose(found.boxes[0], [0, 0, 640, 480])
    assert np.isfinite(found.boxes).all()


def test_detections_match_labels_in_original_coordinates(trained):
    result, val_set, images = trained
    detector = Detector(result.best, conf_threshold=0.05)
    found_any = 0
    for sample, image, found in zip(val_set.samples, images, detector(images), strict=False):
        height, width = image.shape[:2]
        assert (found.boxes[:, [0, 2]] >= 0).all() and (found.boxes[:, [0, 2]] <= width).all()
        assert (found.boxes[:, [1, 3]] >= 0).all() and (found.boxes[:, [1, 3]] <= height).all()
        for box, cls in zip(sample.boxes, sample.class_ids, strict=True):
            same_class = found.boxes[found.class_ids == cls]
            if any(_iou(box, b) > 0.5 for b in same_class):
                found_any += 1
    assert found_any >= 2, "the trained model should find labelled objects where they are"


def test_batch_of_mixed_sizes_equals_single_calls(trained):
    result, _, images = trained
    detector = Detector(result.best, conf_threshold=0.05)
    base = images[0]
    mixed = [base, cv2.resize(base, (256, 192)), cv2.copyMakeBorder(base, 40, 0, 0, 10,
                                                                      cv2.BORDER_CONSTANT),
             base[:, :80].copy()]
    together = detector(mixed)
    assert len(together) == 4
    for image, batched in zip(mixed, together, strict=True):
        alone = detector(image)[0]
        assert compare_detections(batched, alone).agrees(box_tolerance=1e-3,
                                                         score_tolerance=1e-5)
    # the same picture at twice the size gives the same detections at twice the coordinates
    small, large = together[0], together[1]
    assert len(small) > 0
    halved = type(large)(large.boxes / 2, large.scores, large.class_ids)
    assert compare_detections(small, halved).agrees(box_tolerance=1.0, score_tolerance=0.05)


def test_onnx_and_torch_backends_agree(trained, onnx_path):
    result, _, images = trained
    torch_detector = Detector(result.best, conf_threshold=0.05)
    onnx_detector = Detector(onnx_path, conf_threshold=0.05)
    assert onnx_detector.runtime.name == "onnxruntime"
    assert torch_detector.runtime.name == "torch"
    assert onnx_detector.names == torch_detector.names
    assert onnx_detector.imgsz == torch_detector.imgsz == (96, 96)
    total = 0
    for a, b in zip(torch_detector(images), onnx_detector(images), strict=True):
        assert compare_detections(a, b).agrees(box_tolerance=0.01, score_tolerance=1e-4)
        total += len(a)
    assert total > 0


def test_static_batch_onnx_runs_larger_batches(trained, tmp_path):
    result, _, images = trained
    ckpt = load_checkpoint(result.best)
    path = tmp_path / "static.onnx"
    # check=False: export_onnx's own ORT check feeds batch 1, which a static batch-2 graph
    # refuses (a limitation of onnxio/serialize.py); the comparison below is the check here.
    export_onnx(ckpt.model, path, ckpt.imgsz, ckpt.names, batch=2, dynamic_batch=False,
                check=False)
    static = Detector(path, conf_threshold=0.05)
    assert static.runtime.fixed_imgsz
    dynamic = Detector(result.best, conf_threshold=0.05)
    for a, b in zip(static(images[:5]), dynamic(images[:5]), strict=True):
        assert compare_detections(a, b).agrees(box_tolerance=0.01, score_tolerance=1e-4)
    with pytest.raises(EdgepruneError, match="fixed at 96x96"):
        Detector(path, imgsz=128)


def test_in_memory_model_keeps_its_mode(tiny_yolov3):
    tiny_yolov3.train()
    detector = Detector(tiny_yolov3, conf_threshold=0.5)
    assert detector.runtime.name == "torch" and detector.imgsz == (64, 64)
    assert detector.names == ["class0", "class1", "class2"]
    out = detector([np.zeros((50, 70, 3), np.uint8)] * 3)
    assert len(out) == 3 and tiny_yolov3.training


def test_bad_inputs_are_clear_errors(tmp_path, tiny_yolov3):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(EdgepruneError, match="broken.onnx: ONNX Runtime cannot load"):
        Detector(broken)
    with pytest.raises(EdgepruneError, match="missing.onnx: file not found"):
        Detector(tmp_path / "missing.onnx")
    with pytest.raises(EdgepruneError, match="model.tflite: no inference runtime"):
        Detector(tmp_path / "model.tflite")
    with pytest.raises(EdgepruneError, match="unknown inference runtime 'tensorflow'"):
        Detector(tiny_yolov3, runtime="tensorflow")
    with pytest.raises(EdgepruneError, match="2 class names for a model with 3"):
        Detector(tiny_yolov3, names=["a", "b"])
    detector = Detector(tiny_yolov3)
    with pytest.raises(EdgepruneError, match="uint8"):
        detector(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(EdgepruneError, match=r"\(H, W, 3\)"):
        detector(np.zeros((10, 10, 4), np.uint8))
    grey = detector(np.zeros((10, 10), np.uint8))
    assert len(grey) == 1


def test_backend_keyword_is_a_deprecated_alias_of_runtime(tiny_yolov3, capsys):
    detector = Detector(tiny_yolov3, backend="torch")
    assert detector.runtime.name == "torch"
    assert "Detector(backend=...) is deprecated" in capsys.readouterr().err
    with pytest.raises(EdgepruneError, match="unknown inference runtime 'tensorflow'"):
        Detector(tiny_yolov3, backend="tensorflow")
