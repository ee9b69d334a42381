"""`edgeprune train`, `val` and `predict` from the command line, as a user runs them."""

from __future__ import annotations

import json

import cv2
import pytest
import torch
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import load_checkpoint
from edgeprune.onnxio.serialize import export_onnx
from tests.datagen_helpers import trained_tiny_model, write_dataset


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny_model(tmp_path_factory.mktemp("trained"))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_train_then_resume_from_the_command_line(in_tmp):
    data, _, _ = write_dataset(in_tmp / "data", train=16, val=8)
    common = ["--data", data, "--model", "yolov3-tiny", "--width", "0.125", "--imgsz", 64,
              "--batch", 8, "--workers", 1, "--torch-threads", 1]
    threads_before = torch.get_num_threads()
    run = invoke("train", *common, "--epochs", 1, "--name", "tiny")
    assert run.exit_code == 0, run.output
    folder = in_tmp / "runs" / "train" / "tiny"
    assert {"best.pt", "last.pt", "results.csv", "config.yaml"} <= {p.name for p in
                                                                     folder.iterdir()}
    assert "mAP@0.5" in run.output and "best.pt" in run.output
    assert load_checkpoint(folder / "last.pt").provenance["epochs"] == 1
    assert "threads: 1" in (folder / "config.yaml").read_text()
    assert torch.get_num_threads() == threads_before  # the process-wide setting is restored
    again = invoke("train", "--name", "tiny", "--resume")
    assert again.exit_code == 1 and "already trained all 1 epochs" in again.output
    taken = invoke("train", *common, "--epochs", 1, "--out", folder)
    assert taken.exit_code == 1 and "--resume" in taken.output
    missing = invoke("train", "--model", "yolov3-tiny")
    assert missing.exit_code == 1 and "--data is required" in missing.output


def test_val_prints_per_class_table_and_writes_json(in_tmp, trained):
    result, data_yaml, _ = trained
    run = invoke("val", "--data", data_yaml, "--weights", result.best)
    assert run.exit_code == 0, run.output
    for expected in ("red_box", "green_disc", "blue_bar", "mAP@0.5:0.95", "images/s"):
        assert expected in run.output
    saved = json.loads((in_tmp / "runs" / "val" / "exp" / "results.json").read_text())
    assert saved["map50"] == pytest.approx(result.final_eval.map50, abs=1e-9)
    as_json = invoke("val", "--data", data_yaml, "--weights", result.best, "--json",
                     "--max-images", 8)
    report = json.loads(as_json.output)
    assert report["images"] == 8 and len(report["classes"]) == 3
    assert 0 <= report["map50_95"] <= report["map50"] <= 1


def test_val_on_onnx_matches_torch(in_tmp, trained):
    result, data_yaml, _ = trained
    ckpt = load_checkpoint(result.best)
    export_onnx(ckpt.model, in_tmp / "m.onnx", ckpt.imgsz, ckpt.names)
    torch_run = json.loads(invoke("val", "--data", data_yaml, "--weights", result.best,
                                  "--json").output)
    onnx_run = json.loads(invoke("val", "--data", data_yaml, "--weights", in_tmp / "m.onnx",
                                 "--json").output)
    assert onnx_run["map50"] == pytest.approx(torch_run["map50"], abs=1e-3)
    assert "onnxruntime" in onnx_run["detector"]


def test_val_refuses_a_model_for_other_classes(in_tmp, trained):
    data, _, _ = write_dataset(in_tmp / "other", train=2, val=2)
    (in_tmp / "other" / "data.yaml").write_text(
        (in_tmp / "other" / "data.yaml").read_text().replace("  2: blue_bar\n", ""))
    run = invoke("val", "--data", in_tmp / "other" / "data.yaml", "--weights",
                 trained[0].best)
    assert run.exit_code == 1, run.output
    assert "3 classes" in run.output and "Traceback" not in run.output


def test_predict_draws_boxes(in_tmp, trained):
    result, _, val_set = trained
    source = val_set.samples[0].image_path.parent
    run = invoke("predict", "--weights", result.best, "--source", source, "--out",
                 in_tmp / "drawn", "--conf", 0.05)
    assert run.exit_code == 0, run.output
    drawn = sorted((in_tmp / "drawn").glob("*.png"))
    assert len(drawn) == len(val_set)
    original = cv2.imread(str(val_set.samples[0].image_path))
    assert cv2.imread(str(drawn[0])).shape == original.shape
    records = json.loads((in_tmp / "drawn" / "predictions.json").read_text())
    assert len(records) == len(val_set)
    assert sum(len(r["boxes"]) for r in records) > 0
    changed = sum((cv2.imread(str(d)) != cv2.imread(str(s.image_path))).any()
                  for d, s in zip(drawn, val_set.samples, strict=True))
    assert changed > 0
    one = invoke("predict", "--weights", result.best, "--source", val_set.samples[1].image_path)
    assert one.exit_code == 0 and (in_tmp / "runs" / "predict" / "exp").is_dir()
    empty = in_tmp / "empty"
    empty.mkdir()
    nothing = invoke("predict", "--weights", result.best, "--source", empty)
    assert nothing.exit_code == 1 and "no images found" in nothing.output


def test_train_from_darknet_weights_for_other_classes(in_tmp, trained):
    from edgeprune.models.darknet_files import export_darknet

    files = export_darknet(load_checkpoint(trained[0].best), in_tmp / "darknet", "tiny")
    data = in_tmp / "two"
    write_dataset(data, train=8, val=4)
    (data / "data.yaml").write_text((data / "data.yaml").read_text().replace(
        "  2: blue_bar\n", ""))  # labels of class 2 become problems; 2 classes remain
    run = invoke("train", "--data", data / "data.yaml", "--cfg", files["cfg"], "--weights",
                 files["weights"], "--imgsz", 96, "--epochs", 1, "--batch", 4, "--workers", 0,
                 "--no-val", "--name", "transfer")
    assert run.exit_code == 0, run.output
    assert "resized from 3 to 2 classes" in run.output
    assert "tensors transferred" in run.output and "skipped" in run.output
    assert "class 2 out of range 0..1" in run.output  # named, and all in data_problems.txt
    assert "class 2 out of range" in (in_tmp / "runs" / "train" / "transfer" /
                                      "data_problems.txt").read_text()
    ckpt = load_checkpoint(in_tmp / "runs" / "train" / "transfer" / "best.pt")
    assert ckpt.names == ["red_box", "green_disc"] and ckpt.model.num_classes == 2
    assert ckpt.provenance["start_weights"] == str(files["weights"])
