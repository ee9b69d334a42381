"""Generated RoboMaster-like data: determinism, labels that match the pixels, the YOLO layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.data import DataError, load_dataset, read_image
from edgeprune.data.synth import CLASSES, generate_dataset, render_sample

SIZE = (192, 144)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_same_bytes_with_any_worker_count(tmp_path):
    one = generate_dataset(tmp_path / "a", "real", images=6, seed=5, size=SIZE, workers=1)
    generate_dataset(tmp_path / "b", "real", images=6, seed=5, size=SIZE, workers=2)
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert first == second
    assert len([name for name in first if name.startswith("images/")]) == 6
    assert one.splits == {"train": 5, "val": 1}
    generate_dataset(tmp_path / "c", "real", images=6, seed=6, size=SIZE, workers=1)
    other = tree(tmp_path / "c")
    assert other["images/train/000000.jpg"] != first["images/train/000000.jpg"]


def test_sim_and_real_share_scenes_and_labels(tmp_path):
    generate_dataset(tmp_path / "sim", "sim", images=4, seed=1, size=SIZE, workers=1)
    generate_dataset(tmp_path / "real", "real", images=4, seed=1, size=SIZE, workers=1)
    sim, real = tree(tmp_path / "sim"), tree(tmp_path / "real")
    labels = sorted(name for name in sim if name.startswith("labels/"))
    assert labels and all(sim[name] == real[name] for name in labels)
    assert "images/train/000000.png" in sim and "images/train/000000.jpg" in real
    clean = read_image(tmp_path / "sim" / "images/train/000000.png").astype(int)
    camera = read_image(tmp_path / "real" / "images/train/000000.jpg").astype(int)
    assert np.abs(clean - camera).mean() > 2  # the camera changed the pixels
    assert np.corrcoef(clean.ravel(), camera.ravel())[0, 1] > 0.5  # of the same scene


def test_output_loads_with_the_five_classes(tmp_path):
    result = generate_dataset(tmp_path / "ds", "sim", images=10, seed=0, size=SIZE,
                              val_fraction=0.3, workers=1)
    train = load_dataset(result.yaml_path, "train")
    val = load_dataset(result.yaml_path, "val")
    assert train.names == list(CLASSES) == ["red_armor", "red_robot", "blue_robot",
                                            "dead_robot", "blue_armor"]
    assert (len(train), len(val)) == (7, 3) and not train.problems and not val.problems
    counts = np.bincount(np.concatenate([s.class_ids for s in train.samples + val.samples]),
                         minlength=5)
    manifest = json.loads((tmp_path / "ds" / "synth.json").read_text())
    assert manifest["boxes"] == dict(zip(CLASSES, counts.tolist(), strict=True))
    assert manifest["seed"] == 0 and manifest["domain"] == "sim"
    assert counts.sum() > 10


def test_armor_boxes_hold_their_light_bars_inside_their_robot():
    """A red_armor box contains bright red pixels and lies inside a red_robot box."""
    checked = 0
    for index in range(12):
        rendered, quality = render_sample(3, index, (320, 240), "sim")
        assert quality is None
        image = rendered.image.astype(int)
        for box, class_id in zip(rendered.boxes, rendered.class_ids, strict=True):
            x1, y1, x2, y2 = box.astype(int)
            assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
            if CLASSES[class_id] not in ("red_armor", "blue_armor"):
                continue
            patch = image[y1:y2, x1:x2]
            team, other = (2, 0) if class_id == 0 else (0, 2)
            assert ((patch[..., team] > 200) & (patch[..., team] > patch[..., other] + 80)).any()
            robot = 1 if class_id == 0 else 2
            robots = rendered.boxes[rendered.class_ids == robot]
            assert any((r[0] <= x1) & (r[1] <= y1) & (r[2] >= x2) & (r[3] >= y2) for r in robots)
            checked += 1
    assert checked >= 10


def test_refuses_a_non_empty_folder_and_force_replaces_only_its_own_files(tmp_path):
    out = tmp_path / "ds"
    generate_dataset(out, "sim", images=3, seed=0, size=SIZE, workers=1)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty.*--force"):
        generate_dataset(out, "sim", images=2, seed=0, size=SIZE, workers=1)
    generate_dataset(out, "sim", images=2, seed=0, size=SIZE, workers=1, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert len(list((out / "images").rglob("*.png"))) == 2


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="unknown domain"):
        generate_dataset(tmp_path / "x", "cartoon", images=2)
    with pytest.raises(DataError, match="val-fraction"):
        generate_dataset(tmp_path / "x", "sim", images=2, val_fraction=1.0)


def test_cli_synth_writes_a_dataset_and_reports_it(tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["data", "synth", "--out", str(out), "--images", "4",
                                       "--size", "128x96", "--seed", "2", "--processes", "1"])
    assert result.exit_code == 0, result.output
    assert "data.yaml" in result.output and "red_armor" in result.output
    assert len(load_dataset(out / "data.yaml", "train")) == 3
    again = CliRunner().invoke(main, ["data", "synth", "--out", str(out), "--images", "4"])
    assert again.exit_code == 1 and "--force" in again.output
    bad = CliRunner().invoke(main, ["data", "synth", "--out", str(out), "--size", "big"])
    assert bad.exit_code == 2 and "WIDTHxHEIGHT" in bad.output
