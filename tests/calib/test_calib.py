"""INT8 calibration sets: class-balanced selection, the files in calib/NAME and the batches
the calibrator feeds (the Detector's pre-processing). What TensorRT does with a set is
tests/trt/test_int8.py."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from edgeprune.calib import (
    CalibError,
    load_calib_set,
    make_calib_set,
    select_calibration_images,
)
from edgeprune.cli import main
from edgeprune.data.dataset import Sample
from edgeprune.data.images import read_image
from edgeprune.data.letterbox import prepare_batch
from tests.datagen_helpers import write_dataset


def _samples(classes_per_image: list[list[int]]) -> list[Sample]:
    return [Sample(image_path=f"{i}.png", boxes=np.zeros((len(c), 4), np.float32),
                   class_ids=np.array(c, np.int64), width=64, height=64)
            for i, c in enumerate(classes_per_image)]


def test_selection_covers_rare_classes_then_fills_at_random():
    # 200 images: class 0 everywhere, class 1 in 20, class 2 in only 3, 40 backgrounds
    rng = np.random.default_rng(1)
    layout = []
    for index in range(200):
        classes = [] if index % 5 == 0 else [0]
        if rng.random() < 0.1:
            classes.append(1)
        layout.append(classes)
    for index in (7, 77, 177):
        layout[index] = [2]
    samples = _samples(layout)
    chosen = select_calibration_images(samples, 3, 30, seed=0)
    assert len(chosen.indices) == len(set(chosen.indices)) == 30
    per_class = chosen.images_per_class
    assert per_class[2] == 3  # every image of the rarest class is in
    assert per_class[1] >= chosen.quota == 5
    # uniform sampling would expect 30 x 3/200 = 0.45 images of class 2
    assert chosen.cover_count >= 3
    again = select_calibration_images(samples, 3, 30, seed=0)
    assert again.indices == chosen.indices  # seeded
    other = select_calibration_images(samples, 3, 30, seed=1)
    assert other.indices != chosen.indices
    everything = select_calibration_images(samples, 3, 500, seed=0)
    assert sorted(everything.indices) == list(range(200))


def test_calib_make_writes_the_set_and_its_batches_are_the_detectors(tmp_path):
    data, train_set, _ = write_dataset(tmp_path / "shapes", train=24, val=2)
    out = tmp_path / "calib" / "shapes"
    run = CliRunner().invoke(main, ["calib", "make", "--data", str(data), "--images", "10",
                                    "-o", str(out), "--seed", "3"])
    assert run.exit_code == 0, run.output
    assert "red_box" in run.output and "10 of 24 usable train images" in run.output
    settings = yaml.safe_load((out / "calib.yaml").read_text())
    assert settings["images"] == 10 and settings["seed"] == 3 and settings["split"] == "train"
    assert settings["preprocess"]["letterbox_pad_value"] == 114
    assert settings["preprocess"]["channels"] == "RGB"
    assert sum(settings["selection"]["images_per_class"].values()) >= 10
    calib = load_calib_set(out)
    listed = (out / "images.txt").read_text().split()
    assert len(calib) == len(listed) == 10 and all(p.is_file() for p in calib.images)
    batches = list(calib.batches((64, 96), batch_size=4))
    assert [b.shape for b in batches] == [(4, 3, 64, 96)] * 2  # the partial batch is dropped
    expected, _ = prepare_batch([read_image(p) for p in calib.images[4:8]], (64, 96))
    np.testing.assert_array_equal(batches[1], expected)
    again = CliRunner().invoke(main, ["calib", "make", "--data", str(data), "-o", str(out)])
    assert again.exit_code == 1 and "--force" in again.output
    (out / "trt-0123456789abcdef-96x64.cache").write_bytes(b"old cache")
    forced = make_calib_set(data, out, 10, seed=3, force=True)
    assert [p.name for p in forced.calib.images] == [p.name for p in calib.images]
    assert not list(out.glob("*.cache"))  # caches of the replaced set are gone


def test_copied_set_travels_and_bad_files_name_file_and_line(tmp_path):
    data, _, _ = write_dataset(tmp_path / "shapes", train=6, val=2)
    made = make_calib_set(data, tmp_path / "set", 4, copy=True, imgsz=64)
    moved = tmp_path / "robot" / "arena"
    (tmp_path / "set").rename(moved.parent.mkdir(parents=True) or moved)
    calib = load_calib_set(moved)
    assert len(calib) == 4 and all(moved in p.parents for p in calib.images)
    assert calib.imgsz == (64, 64) and made.calib.imgsz == (64, 64)
    with pytest.raises(CalibError, match="made for 64x64 input, the model takes 96x96"):
        calib.input_size((96, 96))
    assert calib.cache_path("ab" * 32, (64, 64)).name == "trt-abababababababab-64x64.cache"
    listing = moved / "images.txt"
    listing.write_text(listing.read_text() + "images/missing.png\n")
    with pytest.raises(CalibError, match=r"images.txt:5: .*missing.png does not exist"):
        load_calib_set(moved)
    listing.write_text("images/00000_0000.png\n")
    settings = moved / "calib.yaml"
    settings.write_text(settings.read_text().replace("letterbox_pad_value: 114",
                                                     "letterbox_pad_value: 0"))
    with pytest.raises(CalibError, match="calib.yaml: preprocess.letterbox_pad_value is 0"):
        load_calib_set(moved)
    with pytest.raises(CalibError, match="not a calibration set"):
        load_calib_set(tmp_path)
