"""Pascal-VOC XML (DJI ROCO objects) and COCO json, on real files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeprune.data import DataError, dataset_names, load_dataset
from edgeprune.data.config import read_config
from edgeprune.data.formats import detect_format
from tests.data_helpers import write_image, write_text, write_yaml


def voc_object(name: str, box: tuple, **fields) -> str:
    extra = "".join(f"<{key}>{value}</{key}>" for key, value in fields.items())
    xmin, ymin, xmax, ymax = box
    return (f"  <object>\n    <name>{name}</name>{extra}\n    <bndbox><xmin>{xmin}</xmin>"
            f"<ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>\n  </object>\n")


def voc_xml(filename: str, objects: list[str], size=(64, 48)) -> str:
    return (f"<annotation>\n  <folder>image</folder>\n  <filename>{filename}</filename>\n"
            f"  <size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth>"
            f"</size>\n" + "".join(objects) + "</annotation>\n")


ROCO_MAP = {"car": "robot", "watcher": None, "base": None, "armor": "{armor_color}_armor",
            "armor[armor_color=grey]": None}


@pytest.fixture
def roco(tmp_path):
    """A ROCO-like folder: image/ and image_annotation/ side by side."""
    root = tmp_path / "roco" / "robomaster_Final Tournament"
    write_image(root / "image" / "a.jpg")
    write_image(root / "image" / "b.jpg", seed=1)
    write_text(root / "image_annotation" / "a.xml", voc_xml("a.jpg", [
        voc_object("car", (11, 6, 40, 30), difficulty=0),                       # line 5
        voc_object("armor", (21, 11, 30, 20), armor_class=3, armor_color="red"),  # line 9
        voc_object("armor", (31, 11, 40, 20), armor_class=1, armor_color="blue"),
        voc_object("armor", (41, 11, 50, 20), armor_class="none", armor_color="grey"),
        voc_object("watcher", (1, 1, 10, 10)),
        voc_object("base", (1, 1, 64, 48)),
        voc_object("ignore", (51, 31, 60, 40)),
        voc_object("car", (1, 31, 10, 40), difficult=1),
        voc_object("drone", (1, 1, 5, 5)),                                        # line 37
        voc_object("armor", (1, 1, 5, 5)),                                        # no color
    ]))
    write_text(root / "image_annotation" / "b.xml", "<annotation><filename>b.jpg</filename>"
                                                    "<object><name>car</name>\n<bndbox>")
    write_text(root / "image_annotation" / "c.xml", voc_xml("c.jpg", []))
    return write_yaml(tmp_path / "roco.yaml", {
        "path": "roco", "val": "robomaster_Final Tournament/image_annotation",
        "names": ["red_armor", "blue_armor", "robot"], "class_map": ROCO_MAP})


def test_roco_objects_map_through_class_map(roco):
    dataset = load_dataset(roco, "val")
    assert detect_format(read_config(roco), "val").name == "voc"
    assert len(dataset) == 1
    sample = dataset.samples[0]
    assert sample.image_path.name == "a.jpg" and (sample.width, sample.height) == (64, 48)
    assert sample.class_ids.tolist() == [2, 0, 1]
    # VOC pixel indices are 1-based inclusive: (11, 6, 40, 30) covers x 10..40, y 5..30
    np.testing.assert_allclose(sample.boxes, [[10, 5, 40, 30], [20, 10, 30, 20],
                                              [30, 10, 40, 20]])
    np.testing.assert_allclose(sample.ignore_boxes, [[50, 30, 60, 40], [0, 30, 10, 40]])
    found = {(p.kind, p.path.rsplit("/", 1)[-1], p.line) for p in dataset.problems}
    assert ("unknown_class", "a.xml", 37) in found
    assert ("unknown_class", "a.xml", 41) in found  # armor without armor_color
    assert ("bad_label_file", "b.xml", 2) in found
    assert ("missing_image", "c.xml", None) in found
    assert len(found) == 4
    drone = next(p for p in dataset.problems if p.line == 37)
    assert "'drone'" in drone.message and "class_map" in drone.message


def test_voc_layout_with_imagesets_ids(tmp_path):
    root = tmp_path / "VOC2007"
    for name in ("000001", "000002"):
        write_image(root / "JPEGImages" / f"{name}.jpg")
    write_text(root / "Annotations" / "000001.xml",
               voc_xml("000001.jpg", [voc_object("dog", (1, 1, 64, 48))]))
    write_text(root / "ImageSets" / "Main" / "val.txt", "000001\n000002\n")
    data = write_yaml(tmp_path / "voc.yaml", {"path": "VOC2007",
                                              "val": "ImageSets/Main/val.txt",
                                              "names": ["cat", "dog"]})
    dataset = load_dataset(data)
    assert [s.image_path.name for s in dataset.samples] == ["000001.jpg"]
    np.testing.assert_allclose(dataset.samples[0].boxes, [[0, 0, 64, 48]])
    assert [(p.kind, p.line) for p in dataset.problems] == [("missing_label", 2)]
    images = load_dataset({"path": str(root), "val": "JPEGImages", "names": ["cat", "dog"],
                           "format": "voc"})
    assert len(images) == 1 and images.problems[0].kind == "missing_label"


def coco_file(tmp_path, **overrides):
    root = tmp_path / "coco"
    for name in ("1.jpg", "2.jpg"):
        write_image(root / "val2017" / name)
    data = {
        "images": [{"id": 1, "file_name": "1.jpg", "width": 64, "height": 48},
                   {"id": 2, "file_name": "2.jpg", "width": 64, "height": 48},
                   {"id": 3, "file_name": "3.jpg", "width": 64, "height": 48}],
        "categories": [{"id": 7, "name": "truck"}, {"id": 1, "name": "car"},
                       {"id": 3, "name": "bus"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [4, 5, 10, 20], "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 7, "bbox": [30, 5, 10, 20], "iscrowd": 0},
            {"id": 12, "image_id": 1, "category_id": 3, "bbox": [0, 0, 64, 10], "iscrowd": 1},
            {"id": 13, "image_id": 2, "category_id": 99, "bbox": [1, 1, 2, 2], "iscrowd": 0},
            {"id": 14, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2], "iscrowd": 0},
            {"id": 15, "image_id": 2, "category_id": 1, "bbox": [5, 5, 0, 3], "iscrowd": 0},
            {"id": 16, "image_id": 8, "category_id": 1, "bbox": [5, 5, 3, 3], "iscrowd": 0},
        ]}
    data.update(overrides)
    write_text(root / "annotations" / "instances_val2017.json", json.dumps(data))
    return root


def test_coco_categories_in_id_order_and_crowd_as_ignore(tmp_path):
    root = coco_file(tmp_path)
    data = write_yaml(root / "coco.yaml", {"val": "annotations/instances_val2017.json"})
    assert dataset_names(data) == ["car", "bus", "truck"]  # ids 1, 3, 7 -> 0, 1, 2
    dataset = load_dataset(data)
    assert detect_format(read_config(data), "val").name == "coco"
    first, second = dataset.samples
    np.testing.assert_allclose(first.boxes, [[4, 5, 14, 25], [30, 5, 40, 25]])
    assert first.class_ids.tolist() == [0, 2]
    np.testing.assert_allclose(first.ignore_boxes, [[0, 0, 64, 10]])
    assert second.boxes.shape == (0, 4)
    kinds = sorted(p.kind for p in dataset.problems)
    assert kinds == ["missing_image", "unknown_class", "unknown_image", "wrong_column_count",
                     "zero_area_box"]
    assert all(p.path.endswith("instances_val2017.json") for p in dataset.problems)
    unknown = next(p for p in dataset.problems if p.kind == "unknown_class")
    assert "annotation id 13" in unknown.message and "99" in unknown.message


def test_coco_with_names_and_class_map(tmp_path):
    root = coco_file(tmp_path)
    dataset = load_dataset({"path": str(root), "val": "annotations/instances_val2017.json",
                            "names": ["vehicle", "truck"],
                            "class_map": {"car": "vehicle", "bus": "ignore"}})
    first = dataset.samples[0]
    assert first.class_ids.tolist() == [0, 1]
    np.testing.assert_allclose(first.ignore_boxes, [[0, 0, 64, 10]])


def test_coco_bad_json_names_the_line(tmp_path):
    path = write_text(tmp_path / "instances_val.json", '{"images": [\n{"id": 1,,}\n]}')
    with pytest.raises(DataError, match=r"instances_val.json:2: not valid JSON"):
        load_dataset({"val": str(path)})
    write_text(path, '{"images": []}')
    with pytest.raises(DataError, match="not a COCO instances file"):
        load_dataset({"val": str(path)})


def test_format_detection(tmp_path, ucsd_sample):
    (tmp_path / "ds" / "images").mkdir(parents=True)
    yolo = read_config({"path": str(tmp_path / "ds"), "val": "images", "names": ["a"]})
    assert detect_format(yolo, "val").name == "yolo"
    darknet = read_config({"path": str(ucsd_sample), "val": "val.txt", "names": ["a"]})
    assert detect_format(darknet, "val").name == "darknet"
    abcp = read_config({"path": str(ucsd_sample), "val": "search_val.txt", "names": ["a"]})
    assert detect_format(abcp, "val").name == "abcp"
