"""`data check`: every problem kind on real files, exit codes, JSON."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.data.check import check_dataset
from tests.data_helpers import darknet_folder, write_image, write_text, write_yaml


@pytest.fixture
def messy(tmp_path):
    """A YOLO dataset with one of every problem."""
    root = tmp_path / "messy"
    images, labels = root / "images", root / "labels"
    write_image(images / "train" / "a.jpg", 64, 48, seed=1)
    write_text(labels / "train" / "a.txt",
               "0 0.5 0.5 0.5 0.5\n"    # fine
               "5 0.5 0.5 0.2 0.2\n"    # 2: class out of range
               "1 0.95 0.5 0.2 0.2\n"   # 3: partly outside the image: clipped
               "1 0.5 0.5 0.0 0.2\n"    # 4: zero area
               "1 0.5 0.5 0.2\n"        # 5: wrong column count
               "2 0.25 0.25 0.1 0.1\n"  # 6 and 7: the same box twice
               "2 0.25 0.25 0.1 0.1\n")
    ok, encoded = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))
    (images / "train" / "b.jpg").write_bytes(encoded.tobytes()[:300])  # header fine, data cut
    shutil.copy(images / "train" / "a.jpg", images / "train" / "c.jpg")  # same content
    write_image(images / "val" / "v.jpg", 64, 48, seed=2)
    write_text(root / "val.txt", "images/val/v.jpg\nimages/val/v.jpg\nimages/train/a.jpg\n"
                                 "images/val/gone.jpg\n")
    return write_yaml(root / "data.yaml", {"path": ".", "train": "images/train",
                                           "val": "val.txt", "names": ["x", "y", "z"]})


def problems_of(check) -> set[tuple[str, str, int | None]]:
    return {(p.kind, p.path.rsplit("/", 1)[-1], p.line) for p in check.problems}


def test_every_problem_kind_is_found_with_its_file_and_line(messy):
    report = check_dataset(messy)
    train, val = report.splits
    assert report.names == ["x", "y", "z"]
    assert problems_of(train) == {
        ("class_out_of_range", "a.txt", 2), ("box_outside_image", "a.txt", 3),
        ("zero_area_box", "a.txt", 4), ("wrong_column_count", "a.txt", 5),
        ("duplicate_box", "a.txt", None), ("unreadable_image", "b.jpg", None),
        ("duplicate_image", "c.jpg", None)}
    assert (train.listed, train.usable, train.unreadable) == (3, 2, 1)
    assert train.boxes == {"x": 1, "y": 1, "z": 2}  # c.jpg has no label file: no boxes
    assert train.background == 1
    label_problems = {p for p in problems_of(train) if p[1] == "a.txt"}  # val lists a.jpg too
    assert problems_of(val) == label_problems | {("duplicate_image", "v.jpg", None),
                                                 ("split_overlap", "a.jpg", None),
                                                 ("missing_image", "val.txt", 4)}
    overlap = next(p for p in val.problems if p.kind == "split_overlap")
    assert "also in split train" in overlap.message
    assert (val.listed, val.usable, val.missing) == (4, 3, 1)
    assert report.usable


def test_headers_only_misses_corrupt_image_data(messy):
    train = check_dataset(messy, ["train"], decode=False).splits[0]
    assert "unreadable_image" not in {p.kind for p in train.problems}
    assert train.usable == 3


def test_size_mismatch_between_labels_and_image(tmp_path):
    root = tmp_path / "coco"
    write_image(root / "images" / "1.jpg", 64, 48)
    write_text(root / "instances.json", json.dumps({
        "images": [{"id": 1, "file_name": "1.jpg", "width": 640, "height": 480}],
        "categories": [{"id": 1, "name": "robot"}], "annotations": []}))
    report = check_dataset({"path": str(root), "val": "instances.json", "images": "images"})
    assert [(p.kind, p.message) for p in report.splits[0].problems] == [
        ("size_mismatch", f"labels are for 640x480 but {root / 'images' / '1.jpg'} is 64x48")]


def test_cli_exit_codes_and_json(ucsd_sample, messy):
    data = write_yaml(ucsd_sample.parent / "ucsd.yaml", {
        "path": "ucsd-sample", "train": "train.txt", "val": "val.txt", "names": "classes.txt",
        "root_map": {"/data/UCSD-dataset": "./ucsd-sample"}})
    runner = CliRunner()
    everything = runner.invoke(main, ["data", "check", str(data)])
    assert everything.exit_code == 1  # val: all 76 images missing
    assert "val: no usable images" in everything.output
    assert "missing_image (677)" in everything.output and "train.txt:1:" in everything.output
    train = runner.invoke(main, ["data", "check", str(data), "--split", "train", "--json"])
    assert train.exit_code == 2  # usable, but 677 images missing
    report = json.loads(train.output)
    assert report["usable"] and report["splits"]["train"]["usable"] == 6
    assert report["splits"]["train"]["problem_counts"] == {"missing_image": 677}
    assert report["splits"]["train"]["boxes"] == {"truck": 14, "bus": 3, "car": 211}
    shown = runner.invoke(main, ["data", "check", str(messy), "--show", "1"])
    assert shown.exit_code == 2 and "a.txt:2: class 5 out of range 0..2" in shown.output
    missing = runner.invoke(main, ["data", "check", str(messy), "--split", "test"])
    assert missing.exit_code == 1 and "split 'test' is not defined" in missing.output
    nothing = runner.invoke(main, ["data", "check", str(messy.parent / "nope.yaml")])
    assert nothing.exit_code == 1 and "nope.yaml: dataset description not found" in \
        nothing.output


def test_exit_code_2_when_problems_would_leave_data_out(tmp_path):
    """A label line of class 9 (of 3) and a 0-byte image: listed, and exit code 2; a box that
    only needs clipping is a warning, listed with exit code 0."""
    root = tmp_path / "ds"
    darknet_folder(root, {"a": "0 0.5 0.5 0.5 0.5\n9 0.5 0.5 0.2 0.2\n",
                          "b": "1 0.5 0.5 0.2 0.2\n", "c": "2 0.5 0.5 0.2 0.2\n"})
    (root / "JPEGImages" / "c.jpg").write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(main, ["data", "check", str(root / "data.yaml")])
    assert result.exit_code == 2, result.output
    assert "labels/a.txt:2: class 9 out of range 0..2" in result.output
    assert f"{root / 'JPEGImages' / 'c.jpg'}: not a readable image" in result.output
    assert "usable, but 2 problems leave data out" in result.output
    report = json.loads(runner.invoke(main, ["data", "check", str(root / "data.yaml"),
                                             "--json"]).output)
    assert (report["usable"], report["problems"], report["warnings"]) == (True, 2, 0)
    write_text(root / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n0 0.99 0.5 0.2 0.2\n")
    write_image(root / "JPEGImages" / "c.jpg")
    clipped = runner.invoke(main, ["data", "check", str(root / "data.yaml")])
    assert clipped.exit_code == 0, clipped.output
    assert "box_outside_image" in clipped.output and "clipped" in clipped.output
    assert "2  usable, but problems" in runner.invoke(main, ["data", "check", "-h"]).output
