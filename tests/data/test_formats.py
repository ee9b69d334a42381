"""Dataset YAML, YOLO folders, Darknet lists and ABCP search files, on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprune.data import DataError, dataset_names, load_dataset
from tests.data_helpers import write_image, write_text, write_yaml, yolo_folder


def kinds(dataset) -> list[str]:
    return sorted(problem.kind for problem in dataset.problems)


def ucsd_yaml(root: Path, train: str = "train.txt", val: str = "val.txt") -> Path:
    return write_yaml(root.parent / "ucsd.yaml", {
        "path": root.name, "train": train, "val": val, "names": "classes.txt",
        "root_map": {"/data/UCSD-dataset": f"./{root.name}"}})


def test_ucsd_darknet_lists_load_with_missing_images_reported(ucsd_sample):
    data = ucsd_yaml(ucsd_sample)
    train = load_dataset(data, "train")
    assert train.names == ["truck", "bus", "car"]
    assert len(train) == 6
    assert kinds(train) == ["missing_image"] * 677
    first = train.problems[0]
    assert first.path.endswith("train.txt") and first.line == 1
    assert "/data/UCSD-dataset/JPEGImages/cctv052x2004080606x01824_40.jpg" in first.message
    sample = next(s for s in train.samples if s.image_path.name == "cctv052x2004080516x01638_0.jpg")
    assert (sample.width, sample.height) == (320, 240)
    assert len(sample.boxes) == 62
    # first label line: 2 0.8453125 0.8875 0.109375 0.125 on a 320x240 image
    np.testing.assert_allclose(sample.boxes[0], [253, 198, 288, 228], atol=1e-3)
    assert sample.class_ids[0] == 2
    val = load_dataset(data, "val")
    assert len(val) == 0 and len(val.problems) == 76
    with pytest.raises(DataError, match="no usable images in split 'val'"):
        val.require_usable()


def test_ucsd_abcp_search_files_match_darknet_labels(ucsd_sample):
    data = ucsd_yaml(ucsd_sample, "search_train.txt", "search_val.txt")
    search = load_dataset(data, "train")
    assert kinds(search) == ["missing_image"] * 677
    darknet = {s.image_path.name: s for s in load_dataset(ucsd_yaml(ucsd_sample), "train").samples}
    assert len(search) == 6
    for sample in search.samples:
        other = darknet[sample.image_path.name]
        # ABCP boxes are rounded to the pixel; Darknet ones are exact fractions of 320x240
        np.testing.assert_allclose(np.sort(sample.boxes, 0), np.sort(other.boxes, 0), atol=0.51)
        assert sorted(sample.class_ids) == sorted(other.class_ids)


def test_yolo_folder_boxes_in_pixels(tmp_path):
    data = yolo_folder(tmp_path / "ds", {"one": "0 0.5 0.5 0.5 0.5\n2 0.25 0.25 0.1 0.2\n",
                                         "background": None}, size=(64, 48))
    dataset = load_dataset(data, "val")
    assert dataset.problems == []
    by_name = {s.image_path.stem: s for s in dataset.samples}
    np.testing.assert_allclose(by_name["one"].boxes, [[16, 12, 48, 36], [12.8, 7.2, 19.2, 16.8]],
                               atol=1e-4)
    assert by_name["one"].class_ids.tolist() == [0, 2]
    assert by_name["background"].boxes.shape == (0, 4)
    assert dataset_names(data) == ["a", "b", "c"]


def test_yolo_label_problems_have_file_and_line(tmp_path):
    text = ("0 0.5 0.5 0.2 0.2\n"
            "7 0.5 0.5 0.2 0.2\n"          # class out of range
            "1 0.5 0.5 0.2\n"              # wrong column count
            "1 0.5 0.5 0 0.2\n"            # zero area
            "1 0.9 0.5 0.4 0.2\n"          # outside: clipped to the image
            "x 0.5 0.5 0.2 0.2\n"          # not a number
            "2 0.5 0.5 0.2 0.2 0.1\n"      # six columns
            "1 0.1 0.1 0.3 0.1 0.3 0.3\n")  # polygon: its bounding box
    dataset = load_dataset(yolo_folder(tmp_path / "ds", {"img": text}), "val")
    found = {(p.kind, p.line) for p in dataset.problems}
    assert found == {("class_out_of_range", 2), ("wrong_column_count", 3), ("zero_area_box", 4),
                     ("box_outside_image", 5), ("bad_number", 6), ("wrong_column_count", 7)}
    assert all(p.path.endswith("labels/val/img.txt") for p in dataset.problems)
    sample = dataset.samples[0]
    assert sample.class_ids.tolist() == [0, 1, 1]
    np.testing.assert_allclose(sample.boxes[1], [(0.9 - 0.2) * 64, 0.4 * 48, 64, 0.6 * 48],
                               atol=1e-4)
    np.testing.assert_allclose(sample.boxes[2], [6.4, 4.8, 19.2, 14.4], atol=1e-4)


def test_a_class_written_as_an_integer_valued_number_is_that_class(tmp_path):
    """`0.0` (numpy.savetxt, pandas) reads as class 0, as ultralytics reads it; `0.5` is no
    class."""
    text = "0.0 0.5 0.5 0.2 0.2\n2e0 0.5 0.5 0.2 0.2\n0.5 0.5 0.5 0.2 0.2\n"
    dataset = load_dataset(yolo_folder(tmp_path / "ds", {"img": text}), "val")
    assert dataset.samples[0].class_ids.tolist() == [0, 2]
    assert [(p.kind, p.line, p.message) for p in dataset.problems] == [
        ("bad_number", 3, "class 0.5 is not an integer")]


def test_list_file_relative_lines_and_names_mapping(tmp_path):
    root = tmp_path / "ds"
    write_image(root / "images" / "a.png")
    write_text(root / "labels" / "a.txt", "1 0.5 0.5 1 1\n")
    write_text(root / "lists" / "val.txt", "../images/a.png\nimages/a.png\n# comment\n\n")
    data = write_yaml(root / "data.yaml", {"val": "lists/val.txt", "names": {0: "x", 1: "y"}})
    dataset = load_dataset(data)
    assert len(dataset) == 2 and dataset.problems == []  # beside the list, then the root
    assert dataset.names == ["x", "y"]
    np.testing.assert_allclose(dataset.samples[0].boxes, [[0, 0, 64, 48]])


def test_darknet_data_file(tmp_path):
    root = tmp_path / "darknet"
    write_image(root / "data" / "obj" / "JPEGImages" / "a.jpg")
    write_text(root / "data" / "obj" / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    write_text(root / "data" / "train.txt", "data/obj/JPEGImages/a.jpg\n")
    write_text(root / "data" / "obj.names", "robot\n")
    data = write_text(root / "cfg" / "obj.data", "classes = 1\ntrain = data/train.txt\n"
                      "valid = data/train.txt\nnames = data/obj.names\nbackup = backup/\n")
    dataset = load_dataset(data, "train")
    assert dataset.names == ["robot"] and len(dataset) == 1 and dataset.problems == []
    bad = write_text(root / "cfg" / "bad.data", "classes = 1\nweights = x\n")
    with pytest.raises(DataError, match=r"bad.data:2: unknown key 'weights'"):
        load_dataset(bad)


def test_dict_data_and_list_of_sources(tmp_path):
    yolo_folder(tmp_path / "one", {"a": "0 0.5 0.5 0.5 0.5\n"})
    yolo_folder(tmp_path / "two", {"b": "1 0.5 0.5 0.5 0.5\n"})
    dataset = load_dataset({"path": str(tmp_path), "val": ["one/images/val", "two/images/val"],
                            "names": ["a", "b"], "download": "https://example.org/never.zip"})
    assert [s.image_path.stem for s in dataset.samples] == ["a", "b"]


@pytest.mark.parametrize(("mapping", "message"), [
    ({"val": "x", "names": ["a"], "colour": 1}, r"data.yaml: unknown key 'colour'"),
    ({"val": "x", "names": {0: "a", 2: "b"}}, r"must run 0..1 without gaps"),
    ({"val": "x", "names": ["a", "a"]}, r"class names repeated: a"),
    ({"val": "x", "names": ["a"], "nc": 2}, r"`nc` is 2 but `names` lists 1"),
    ({"val": "x", "names": ["a"], "format": "csv"}, r"unknown dataset format 'csv'"),
    ({"val": "missing/", "names": ["a"]}, r"val source .*missing not found"),
    ({"train": "x", "names": ["a"]}, r"split 'val' is not defined \(defined: train\)"),
    ({"val": "x", "names": "nope.txt"}, r"class-names file .*nope.txt not found"),
    ({"val": "x", "names": ["a"], "root_map": ["/a"]}, r"`root_map` must map old roots"),
])
def test_bad_yaml_is_a_clear_error(tmp_path, mapping, message):
    write_image(tmp_path / "x" / "images" / "a.jpg")
    data = write_yaml(tmp_path / "data.yaml", mapping)
    with pytest.raises(DataError, match=message):
        load_dataset(data, "val")


def test_unparseable_yaml_names_line(tmp_path):
    data = write_text(tmp_path / "data.yaml", "val: images\nnames: [a, b\n")
    with pytest.raises(DataError, match=r"data.yaml:\d+: not valid YAML"):
        load_dataset(data)


def test_class_map_refused_for_numeric_formats(tmp_path):
    data = yolo_folder(tmp_path / "ds", {"a": ""})
    with pytest.raises(DataError, match="`class_map` applies to named labels"):
        load_dataset({"path": str(tmp_path / "ds"), "val": "images/val", "names": ["a"],
                      "class_map": {"a": "b"}})
    assert load_dataset(data).names == ["a", "b", "c"]


def test_unreadable_image_is_a_problem_not_a_crash(tmp_path):
    root = tmp_path / "ds"
    data = yolo_folder(root, {"good": "0 0.5 0.5 0.5 0.5\n"})
    write_text(root / "images" / "val" / "broken.jpg", "not a jpeg")
    dataset = load_dataset(data)
    assert [s.image_path.stem for s in dataset.samples] == ["good"]
    assert kinds(dataset) == ["unreadable_image"]
    assert "broken.jpg" in dataset.problems[0].path


def test_a_split_without_any_label_file_is_reported(tmp_path):
    root = tmp_path / "ds"
    write_image(root / "pictures" / "a.jpg")
    write_text(root / "pictures" / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")  # wrong place
    data = {"path": str(root), "val": "pictures", "names": ["a"]}
    with pytest.raises(DataError, match="none of its 1 images has a label file"):
        load_dataset(data)  # detection finds no layout to read
    dataset = load_dataset({**data, "format": "yolo"})
    assert len(dataset) == 1 and dataset.samples[0].boxes.shape == (0, 4)
    assert [p.kind for p in dataset.problems] == ["no_label_files"]
    assert "pictures/a.txt" in dataset.problems[0].message
