"""Bad data never silently changes a result (issue 24): `val` stops on it unless told to skip,
`train` and `finetune` skip it naming every file, and a verb that fails leaves no run folder.
On generated data in the Darknet layout (JPEGImages/ + labels/), broken by a label line of
class 9 (of 3) and a 0-byte image in each split."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgeprune.cli import main
from tests.datagen_helpers import write_dataset

TRAIN = ["--model", "yolov3-tiny", "--width", "0.125", "--imgsz", "64", "--epochs", "1",
         "--batch", "2", "--workers", "0", "--torch-threads", "1"]


def darknet_shapes(root: Path, broken: bool = True) -> Path:
    """The shapes dataset with its images/ folder renamed JPEGImages/; returns data.yaml."""
    write_dataset(root, train=4, val=4)
    (root / "images").rename(root / "JPEGImages")
    if broken:
        for split in ("train", "val"):
            with (root / "labels" / split / "0000.txt").open("a") as label:
                label.write("9 0.5 0.5 0.2 0.2\n")
            (root / "JPEGImages" / split / "0001.png").write_bytes(b"")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "train": "JPEGImages/train",
                                    "val": "JPEGImages/val",
                                    "names": ["red_box", "green_disc", "blue_bar"]}))
    return data


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from edgeprune.models import load_model, save_checkpoint

    return save_checkpoint(load_model("yolov3-tiny", num_classes=3, width=0.125, imgsz=64),
                           tmp_path_factory.mktemp("model") / "tiny.pt")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def names_both_problems(text: str, split: str = "val") -> bool:
    return bool(re.search(rf"labels/{split}/0000.txt:\d: class 9 out of range 0..2", text)
                and f"JPEGImages/{split}/0001.png: not a readable image" in text)


def test_val_scores_the_darknet_layout(in_tmp, weights):
    data = darknet_shapes(in_tmp / "shapes", broken=False)
    run = invoke("val", "--data", data, "--weights", weights, "--json")
    assert run.exit_code == 0, run.output
    report = json.loads(run.output)
    boxes = sum(len(p.read_text().splitlines())
                for p in (in_tmp / "shapes" / "labels" / "val").glob("*.txt"))
    assert report["images"] == 4 and report["instances"] == boxes and report["problems"] == 0


def test_val_stops_on_bad_data_naming_it_and_leaves_no_run_folder(in_tmp, weights):
    data = darknet_shapes(in_tmp / "shapes")
    line = one_line_error(invoke("val", "--data", data, "--weights", weights))
    assert "2 problems in split 'val'" in line and names_both_problems(line)
    assert "--bad-data skip" in line
    assert not (in_tmp / "runs").exists()


def test_val_skip_names_every_skipped_file_in_the_run_folder(in_tmp, weights):
    data = darknet_shapes(in_tmp / "shapes")
    run = invoke("val", "--data", data, "--weights", weights, "--bad-data", "skip")
    assert run.exit_code == 0, run.output
    assert "skipped 2 problems in split 'val'" in run.output and names_both_problems(run.output)
    folder = in_tmp / "runs" / "val" / "exp"
    listed = (folder / "data_problems.txt").read_text()
    assert len(listed.splitlines()) == 2 and names_both_problems(listed)
    assert json.loads((folder / "results.json").read_text())["problems"] == 2
    as_json = invoke("val", "--data", data, "--weights", weights, "--bad-data", "skip",
                     "--json")
    assert json.loads(as_json.stdout)["images"] == 3  # the summary goes to stderr
    assert names_both_problems(as_json.stderr)


def test_val_on_a_split_without_a_box_says_so_and_leaves_no_run_folder(in_tmp, weights):
    data = darknet_shapes(in_tmp / "shapes", broken=False)
    for label in (in_tmp / "shapes" / "labels" / "val").glob("*.txt"):
        label.write_text("")
    line = one_line_error(invoke("val", "--data", data, "--weights", weights))
    assert "no labelled box in split 'val' (4 images, none with a box)" in line
    assert not (in_tmp / "runs").exists()


def test_predict_on_no_readable_image_leaves_no_run_folder(in_tmp, weights):
    (in_tmp / "photos").mkdir()
    (in_tmp / "photos" / "empty.jpg").write_bytes(b"")
    line = one_line_error(invoke("predict", "--weights", weights, "--source", in_tmp / "photos"))
    assert "none of the 1 image(s) could be read" in line and "empty.jpg" in line
    assert not (in_tmp / "runs").exists()


def test_train_skips_bad_data_by_default_naming_every_file(in_tmp):
    data = darknet_shapes(in_tmp / "shapes")
    run = invoke("train", "--data", data, *TRAIN)
    assert run.exit_code == 0, run.output
    assert "skipped 4 problems (train: 2, val: 2)" in run.output
    listed = (in_tmp / "runs" / "train" / "exp" / "data_problems.txt").read_text()
    assert len(listed.splitlines()) == 4
    assert names_both_problems(listed, "train") and names_both_problems(listed, "val")


def test_train_and_finetune_that_stop_leave_no_run_folder(in_tmp, weights):
    data = darknet_shapes(in_tmp / "shapes")
    line = one_line_error(invoke("train", "--data", data, *TRAIN, "--bad-data", "stop"))
    assert "4 problems (train: 2, val: 2)" in line and names_both_problems(line, "train")
    assert not (in_tmp / "runs").exists()
    line = one_line_error(invoke("finetune", "--weights", weights, "--data", data,
                                 "--no-teacher", "--epochs", "1", "--bad-data", "stop"))
    assert "--bad-data skip" in line
    assert not (in_tmp / "runs").exists()
