"""The node logic both ROS adapters share (params.py, pipeline.py), without any ROS library."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import pytest

from edgeprune.data.images import read_image
from edgeprune.models import create
from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.detector import Detector
from tests.helpers import randomize_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "ros2" / "edgeprune_ros"))
from edgeprune_ros.conversions import ImageMessageError  # noqa: E402
from edgeprune_ros.latency import FrameLatency, LatencyWindow  # noqa: E402
from edgeprune_ros.params import PARAMETERS, apply_renamed  # noqa: E402
from edgeprune_ros.pipeline import DetectionPipeline  # noqa: E402

sys.path.pop(0)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    model = randomize_weights(create("yolov3-tiny", num_classes=3, width=0.25), seed=2)
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export_onnx(model, path, (128, 128), ["truck", "bus", "car"])
    return path


def params(**changes) -> dict:
    return {**PARAMETERS, **changes}


def test_pipeline_publishes_the_detectors_boxes_for_a_message(tiny_onnx, shared_datasets):
    path = sorted((shared_datasets / "ucsd-sample" / "JPEGImages").glob("*.jpg"))[0]
    bgr = read_image(path)
    pipeline = DetectionPipeline(params(model_path=str(tiny_onnx), conf_threshold=0.3,
                                        imgsz=128))
    assert pipeline.names == ["truck", "bus", "car"] and "128x128" in pipeline.describe()
    rgb = bgr[:, :, ::-1].tobytes()
    frame = pipeline.process("rgb8", bgr.shape[0], bgr.shape[1], bgr.shape[1] * 3, rgb)
    expected = Detector(tiny_onnx, conf_threshold=0.3, max_detections=100)(bgr)[0]
    assert [b.class_id for b in frame.boxes] == expected.class_ids.tolist() != []
    first = frame.boxes[0]
    x1, y1, x2, y2 = expected.boxes[0]
    assert (first.center_x, first.size_y) == pytest.approx(((x1 + x2) / 2, y2 - y1), abs=1e-4)
    assert 0 < frame.detector_s < 10
    only_cars = DetectionPipeline(params(model_path=str(tiny_onnx), conf_threshold=0.3,
                                         classes=["car"]))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    boxes = only_cars.process("mono8", *gray.shape, gray.shape[1], gray.tobytes()).boxes
    assert {b.class_name for b in boxes} <= {"car"}
    assert only_cars.overlay(frame).shape == bgr.shape
    with pytest.raises(ImageMessageError, match="unsupported encoding"):
        pipeline.process("yuv422", 2, 2, 4, bytes(8))


@pytest.mark.parametrize("changes, message", [
    ({"model_path": ""}, "model_path is required"),
    ({"conf_threshold": 1.5}, "conf_threshold must be in"),
    ({"iou_threshold": "high"}, "iou_threshold must be a number"),
    ({"qos_reliability": "sometimes"}, "qos_reliability must be best_effort or reliable"),
    ({"classes": ["plane"]}, "classes ['plane'] are not among the model's classes"),
    ({"imgsz": 100}, "input size 100x100"),
])
def test_bad_parameters_are_one_clear_error(tiny_onnx, changes, message):
    with pytest.raises(Exception, match=None) as error:
        DetectionPipeline(params(**{"model_path": str(tiny_onnx), **changes}))
    assert message in str(error.value)


def test_frame_latency_splits_publish_to_detections_and_the_log_reports_percentiles():
    ms = 1_000_000
    frame = FrameLatency.from_clock(source_ns=100 * ms, callback_ns=103 * ms,
                                    published_ns=115 * ms, detector_s=0.010)
    assert (frame.publish_to_detections_ms, frame.transport_ms, frame.in_node_ms,
            frame.detector_ms) == pytest.approx((15, 3, 12, 10))
    assert dict(frame.values())["publish_to_detections_ms"] == "15.000"
    # without the middleware's source timestamp only the node's own share is known
    unknown = FrameLatency.from_clock(None, 103 * ms, 115 * ms, 0.010)
    assert unknown.publish_to_detections_ms is None and unknown.total_ms == pytest.approx(12)
    assert dict(unknown.values())["transport_ms"] == ""
    window = LatencyWindow()
    assert window.report() is None
    for total in [*range(10, 109), 500]:  # 100 frames, one slow
        window.add(FrameLatency.from_clock(1, 1, total * ms + 1, 0.005))
    report = window.report()
    assert report.startswith("100 frames: publish -> detections p50 59.5 ms, p99 111.9 ms")
    assert report.endswith("detector 5.0 ms (median)") and window.report() is None


def test_last_releases_parameter_names_move_to_the_new_ones_with_a_warning(tiny_onnx):
    old = params(model_path=str(tiny_onnx))
    warnings = apply_renamed(old, {"backend": "onnxruntime", "device": "cpu"})
    assert (old["runtime"], old["runtime_device"]) == ("onnxruntime", "cpu")
    assert warnings == ["parameter backend is deprecated and will be removed in the next "
                        "release: use runtime", "parameter device is deprecated and will be "
                        "removed in the next release: use runtime_device"]
    pipeline = DetectionPipeline(old)
    assert pipeline.detector.runtime.name == "onnxruntime"
    assert pipeline.detector.runtime.device == "cpu"
    unset = params(model_path=str(tiny_onnx))
    assert apply_renamed(unset, {"backend": "", "device": ""}) == [] and unset == params(
        model_path=str(tiny_onnx))
    same = params(runtime="torch")
    assert len(apply_renamed(same, {"backend": "torch"})) == 1 and same["runtime"] == "torch"
    with pytest.raises(ValueError, match="backend .the old name of runtime. and runtime are "
                                         "both set, to 'torch' and 'onnxruntime'"):
        apply_renamed(params(runtime="onnxruntime"), {"backend": "torch"})


def test_runtime_parameters_choose_the_detectors_runtime(tiny_onnx):
    with pytest.raises(Exception, match="tiny.onnx: not a checkpoint"):  # the torch runtime
        DetectionPipeline(params(model_path=str(tiny_onnx), runtime="torch"))
