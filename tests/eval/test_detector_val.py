"""What `edgeprune val` scores is what the Detector (and so the robot) produces."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.data.images import read_image
from edgeprune.eval.evaluate import MAP_CONF_THRESHOLD, MAP_IOU_THRESHOLD, Evaluator
from edgeprune.export.opencv_check import compare_detections
from edgeprune.models import load_checkpoint
from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.detector import Detector
from tests.datagen_helpers import trained_tiny_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny_model(tmp_path_factory.mktemp("trained"))


def test_detector_results_equal_val_on_the_same_model_and_images(trained, tmp_path,
                                                                 monkeypatch):
    result, data_yaml, val_set = trained
    ckpt = load_checkpoint(result.best)
    onnx_path = tmp_path / "model.onnx"
    export_onnx(ckpt.model, onnx_path, ckpt.imgsz, ckpt.names)
    monkeypatch.chdir(tmp_path)
    images = [read_image(sample.image_path) for sample in val_set.samples]
    evaluator = Evaluator(val_set)
    for weights in (result.best, onnx_path):
        run = CliRunner().invoke(main, ["val", "--data", str(data_yaml), "--weights",
                                        str(weights), "--json", "--batch", "5"])
        assert run.exit_code == 0, run.output
        reported = json.loads(run.output)
        # the robot's Detector, one image at a time, at val's thresholds
        detector = Detector(weights, conf_threshold=MAP_CONF_THRESHOLD,
                            iou_threshold=MAP_IOU_THRESHOLD, multi_label=True)
        one_by_one = [detector(image)[0] for image in images]
        map50, map50_95, _ = evaluator.score(one_by_one)
        assert reported["map50"] == pytest.approx(map50, abs=1e-12)
        assert reported["map50_95"] == pytest.approx(map50_95, abs=1e-12)
        assert reported["images"] == len(images) and map50 > 0.1
        recalls = [c["recall50"] for c in reported["classes"] if c["recall50"] is not None]
        assert reported["recall50"] == pytest.approx(sum(recalls) / len(recalls))
        batched = detector(images)  # and a batch gives the same boxes as single images
        for alone, together in zip(one_by_one, batched, strict=True):
            assert compare_detections(alone, together).agrees(box_tolerance=1e-3,
                                                              score_tolerance=1e-5)


def test_the_all_row_of_val_has_a_recall(trained, tmp_path, monkeypatch):
    result, data_yaml, _ = trained
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(main, ["val", "--data", str(data_yaml), "--weights",
                                    str(result.best)])
    assert run.exit_code == 0, run.output
    row = next(line for line in run.output.splitlines() if line.strip("│ ").startswith("all"))
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert len(cells) == 6 and cells[5] and float(cells[5]) > 0, row
