"""Small real files for dataset tests: images written with OpenCV, labels, YAMLs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml


def write_image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_yaml(path: Path, mapping: dict) -> Path:
    return write_text(path, yaml.safe_dump(mapping, sort_keys=False))


def yolo_folder(root: Path, labels: dict[str, str], split: str = "val",
                size: tuple[int, int] = (64, 48)) -> Path:
    """root/images/<split>/<name>.jpg with root/labels/<split>/<name>.txt; returns data.yaml."""
    for index, (name, text) in enumerate(labels.items()):
        write_image(root / "images" / split / f"{name}.jpg", *size, seed=index)
        if text is not None:
            write_text(root / "labels" / split / f"{name}.txt", text)
    return write_yaml(root / "data.yaml", {"path": ".", split: f"images/{split}",
                                            "names": ["a", "b", "c"]})


def darknet_folder(root: Path, labels: dict[str, str | None], beside: bool = False,
                   size: tuple[int, int] = (64, 48)) -> Path:
    """root/JPEGImages/<name>.jpg with root/labels/<name>.txt (the Darknet layout of the UCSD
    sample and most RoboMaster teams), or with the label beside the image; returns a data.yaml
    whose val split is the JPEGImages folder."""
    for index, (name, text) in enumerate(labels.items()):
        image = write_image(root / "JPEGImages" / f"{name}.jpg", *size, seed=index)
        if text is not None:
            write_text(image.with_suffix(".txt") if beside else root / "labels" / f"{name}.txt",
                       text)
    return write_yaml(root / "data.yaml", {"path": ".", "val": "JPEGImages",
                                            "names": ["a", "b", "c"]})
