"""The YOLOv8 rival's ONNX, adapted to edgeprune's rows, runs through edgeprune's own Detector:
a graph with ultralytics' output layout (1, 4 + classes, boxes) made here (ultralytics itself
is never installed in edgeprune's environment), adapted, decoded and timed side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from ultralytics_rival import adapt, ultralytics_data, widest_within  # noqa: E402

from edgeprune.runtime.detector import Detector  # noqa: E402

NAMES = ["red_armor", "blue_armor", "robot"]
IMGSZ = 64


def ultralytics_layout(path: Path, boxes: np.ndarray) -> Path:
    """images (1, 3, 64, 64) -> output0 (1, 4 + classes, N): constant `boxes` (N, 4 +
    classes) plus 0 x the image mean, so the output depends on the input as a real one does."""
    table = boxes.T[None].astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["table", "nothing"], ["output0"])]
    graph = helper.make_graph(
        nodes, "ultralytics-like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, IMGSZ, IMGSZ])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(table.shape))],
        [numpy_helper.from_array(table, "table"),
         numpy_helper.from_array(np.zeros((), np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_adapted_export_decodes_through_the_detector(tmp_path):
    # box 0: class 1 at 0.9, centred (32, 16), 20 x 10 model pixels; box 1: every class low
    boxes = np.array([[32, 16, 20, 10, 0.05, 0.9, 0.1],
                      [10, 10, 4, 4, 0.01, 0.02, 0.03]], np.float32)
    source = ultralytics_layout(tmp_path / "yolov8n.onnx", boxes)
    adapted = adapt(source, tmp_path / "rows.onnx", NAMES, IMGSZ)
    detector = Detector(adapted)
    assert detector.names == NAMES and detector.imgsz == (IMGSZ, IMGSZ)
    # a 128 x 128 image letterboxes to 64 x 64 at scale 0.5: boxes double
    found = detector(np.zeros((128, 128, 3), np.uint8))[0]
    assert len(found) == 1 and found.class_ids.tolist() == [1]
    assert found.scores[0] == pytest.approx(0.9)  # objectness 1: the class score itself
    np.testing.assert_allclose(found.boxes[0], [44, 22, 84, 42], atol=1e-4)


def test_adapt_refuses_an_output_that_is_not_ultralytics_detection(tmp_path):
    source = ultralytics_layout(tmp_path / "other.onnx", np.zeros((5, 4 + 2), np.float32))
    with pytest.raises(ValueError, match="not \\(1, 4 \\+ 3 classes, boxes\\)"):
        adapt(source, tmp_path / "rows.onnx", NAMES, IMGSZ)


def test_side_by_side_times_a_foreign_onnx_beside_a_checkpoint(tmp_path, tiny_yolov3):
    from side_by_side import side_by_side

    from edgeprune.models.checkpoint import Checkpoint, save_checkpoint

    base = save_checkpoint(Checkpoint(tiny_yolov3, NAMES, (IMGSZ, IMGSZ)), tmp_path / "b.pt")
    rival = adapt(ultralytics_layout(tmp_path / "v8.onnx", np.zeros((8, 7), np.float32)),
                  tmp_path / "rows.onnx", NAMES, IMGSZ)
    timed = side_by_side({"base": base, "yolov8n": rival}, IMGSZ, rounds=3)
    assert timed["yolov8n"]["gflops"] is None and timed["base"]["gflops"] > 0
    assert all(entry["median_ms"] > 0 for entry in timed.values())
    assert timed["base"]["ratio"] == 1.0


def test_widest_scale_within_the_target():
    latency = {"n": {"median_ms": 4.0}, "s": {"median_ms": 10.2}, "m": {"median_ms": 30.0}}
    assert widest_within(latency, 10.0, 0.03) == "s"
    assert widest_within(latency, 3.0, 0.03) == "n"  # none within: the narrowest
    assert widest_within(latency, 40.0, 0.03) == "m"


def test_ultralytics_data_gets_an_absolute_path(tmp_path):
    data = tmp_path / "sim" / "data.yaml"
    data.parent.mkdir()
    data.write_text("path: .\ntrain: images/train\nval: images/val\nnames: [a, b]\n")
    out = ultralytics_data(data, tmp_path / "rival")
    text = out.read_text()
    assert f"path: {data.parent.resolve()}" in text and "names:" in text
