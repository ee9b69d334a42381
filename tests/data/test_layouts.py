"""Which label rule a folder or list of images follows is read from where its label files
are, and a split without one labelled box is never usable (issue 24, item 1)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.data import DataError, load_dataset
from edgeprune.data.check import check_dataset
from edgeprune.data.config import read_config
from edgeprune.data.formats import detect_format
from tests.data_helpers import darknet_folder, write_text, write_yaml, yolo_folder

BOXES = {"one": "0 0.5 0.5 0.5 0.5\n2 0.25 0.25 0.1 0.2\n", "two": "1 0.5 0.5 0.2 0.2\n",
         "background": None}


def check(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["data", "check", *map(str, args)])
    return result.exit_code, result.output


def test_a_jpegimages_folder_with_a_sibling_labels_folder_reads_as_darknet(tmp_path):
    data = darknet_folder(tmp_path / "ds", BOXES)
    assert detect_format(read_config(data), "val").name == "darknet"
    dataset = load_dataset(data, "val")
    assert dataset.problems == []
    assert sorted(len(s.boxes) for s in dataset.samples) == [0, 1, 2]
    code, output = check(data)
    assert code == 0, output
    assert "format darknet" in output and "usable" in output


def test_the_ucsd_sample_read_from_its_image_folder(ucsd_sample):
    data = write_yaml(ucsd_sample / "folder.yaml", {"path": ".", "train": "JPEGImages",
                                                     "names": "classes.txt"})
    result = CliRunner().invoke(main, ["data", "check", str(data), "--json"])
    assert result.exit_code == 0, result.output
    train = json.loads(result.output)["splits"]["train"]
    assert train["format"] == "darknet" and train["usable"] == 6
    assert train["boxes"] == {"truck": 14, "bus": 3, "car": 211}
    assert train["problem_counts"] == {}


def test_a_list_of_jpegimages_paths_takes_the_rule_whose_labels_exist(tmp_path):
    beside = darknet_folder(tmp_path / "beside", BOXES, beside=True)
    in_labels = darknet_folder(tmp_path / "in_labels", BOXES)
    for data, rule in ((beside, "yolo"), (in_labels, "darknet")):
        write_text(data.parent / "val.txt", "JPEGImages/one.jpg\nJPEGImages/two.jpg\n")
        listed = write_yaml(data.parent / "listed.yaml", {"path": ".", "val": "val.txt",
                                                          "names": ["a", "b", "c"]})
        assert detect_format(read_config(listed), "val").name == rule
        dataset = load_dataset(listed, "val")
        assert sum(len(s.boxes) for s in dataset.samples) == 3 and dataset.problems == []
        assert detect_format(read_config(data), "val").name == rule  # the folder too


def test_labels_in_both_places_ask_for_format(tmp_path):
    data = darknet_folder(tmp_path / "ds", BOXES)
    write_text(tmp_path / "ds" / "JPEGImages" / "one.txt", "1 0.5 0.5 0.5 0.5\n")
    with pytest.raises(DataError) as caught:
        load_dataset(data, "val")
    message = str(caught.value)
    assert "labels/one.txt" in message and "JPEGImages/one.txt" in message
    assert "set `format: yolo` or `format: darknet`" in message
    code, output = check(data)
    assert code == 1 and "set `format: yolo` or `format: darknet`" in output
    chosen = write_yaml(data, {"path": ".", "val": "JPEGImages", "names": ["a", "b", "c"],
                               "format": "yolo"})
    assert [len(s.boxes) for s in load_dataset(chosen, "val").samples] == [0, 1, 0]


def test_no_label_file_under_any_rule_names_where_it_looked(tmp_path):
    data = darknet_folder(tmp_path / "ds", {"one": None, "two": None})
    write_text(tmp_path / "ds" / "annotations" / "one.txt", "0 0.5 0.5 0.5 0.5\n")
    with pytest.raises(DataError) as caught:
        load_dataset(data, "val")
    message = str(caught.value)
    assert "none of its 2 images has a label file" in message
    assert "labels/one.txt (darknet)" in message and "JPEGImages/one.txt (yolo)" in message
    assert "`format:`" in message


def test_darknet_reads_a_folder_when_named_and_yolo_there_is_not_usable(tmp_path):
    data = darknet_folder(tmp_path / "ds", BOXES)
    named = {"path": ".", "val": "JPEGImages", "names": ["a", "b", "c"]}
    darknet = write_yaml(tmp_path / "ds" / "darknet.yaml", {**named, "format": "darknet"})
    assert sum(len(s.boxes) for s in load_dataset(darknet, "val").samples) == 3
    yolo = write_yaml(data, {**named, "format": "yolo"})
    report = check_dataset(yolo)
    assert not report.usable
    assert [p.kind for p in report.splits[0].problems] == ["no_label_files"]
    code, output = check(yolo)
    assert code == 1, output
    assert "val: no labelled box" in output and "usable:" not in output


def test_a_split_without_a_labelled_box_is_never_usable(tmp_path):
    data = yolo_folder(tmp_path / "ds", {"a": "", "b": ""})  # label files, all empty
    assert not check_dataset(data).usable
    code, output = check(data)
    assert code == 1
    assert "val: no labelled box (2 usable images, none with a box)" in output
    with pytest.raises(DataError, match="no labelled box in split 'val' \\(2 images, none "
                                        "with a box\\)"):
        load_dataset(data, "val").require_usable()
    assert len(load_dataset(data, "val").require_usable(need_boxes=False)) == 2
