"""Small generated detection datasets for training and evaluation tests.

Objects are flat-coloured shapes on a textured background, one colour and shape per class, so a
tiny model learns them in a few epochs. Written in the YOLO layout (images/, labels/ with
`class cx cy w h` relative lines) plus a dataset YAML, and also returned as a DetectionDataset.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from edgeprune.data.dataset import DetectionDataset, Sample

CLASSES = ["red_box", "green_disc", "blue_bar"]
_COLOURS = [(40, 40, 220), (40, 200, 40), (220, 90, 30)]  # BGR


def render(rng: np.random.Generator, height: int, width: int, max_objects: int = 3):
    """One image (BGR uint8) with 1..max_objects shapes; returns (image, boxes xyxy, classes)."""
    image = rng.integers(90, 150, (height, width, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 2)
    boxes, classes = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(0, len(CLASSES)))
        side = int(rng.integers(min(height, width) // 6, min(height, width) // 2.5))
        w = side * 2 if cls == 2 else side
        h = side // 2 if cls == 2 else side
        x1 = int(rng.integers(0, max(1, width - w)))
        y1 = int(rng.integers(0, max(1, height - h)))
        x2, y2 = min(width, x1 + w), min(height, y1 + h)
        if cls == 1:
            cv2.ellipse(image, (((x1 + x2) / 2, (y1 + y2) / 2), (x2 - x1, y2 - y1), 0),
                        _COLOURS[cls], -1)
        else:
            cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), _COLOURS[cls], -1)
        boxes.append([x1, y1, x2, y2])
        classes.append(cls)
    return image, np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64)


def write_split(root: Path, split: str, count: int, seed: int, height: int = 96,
                width: int = 128) -> DetectionDataset:
    rng = np.random.default_rng(seed)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    samples = []
    for index in range(count):
        image, boxes, classes = render(rng, height, width)
        image_path = root / "images" / split / f"{index:04d}.png"
        cv2.imwrite(str(image_path), image)
        lines = []
        for (x1, y1, x2, y2), cls in zip(boxes, classes, strict=True):
            lines.append(f"{cls} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                         f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
        (root / "labels" / split / f"{index:04d}.txt").write_text("\n".join(lines) + "\n")
        samples.append(Sample(image_path, boxes, classes, width=width, height=height))
    return DetectionDataset(list(CLASSES), samples, split=split, source=str(root / "data.yaml"))


def write_dataset(root: Path, train: int = 48, val: int = 16, seed: int = 0,
                  height: int = 96, width: int = 128
                  ) -> tuple[Path, DetectionDataset, DetectionDataset]:
    """YOLO folder + data.yaml; returns (yaml path, train split, val split)."""
    train_set = write_split(root, "train", train, seed, height, width)
    val_set = write_split(root, "val", val, seed + 1000, height, width)
    config = {"path": str(root), "train": "images/train", "val": "images/val",
              "names": {i: n for i, n in enumerate(CLASSES)}}
    (root / "data.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root / "data.yaml", train_set, val_set


_TRAINED: dict[tuple, tuple] = {}


def trained_model(root: Path, model: str = "yolov3-tiny", width: float = 0.25,
                  epochs: int = 12):
    """A model (96 px) trained briefly on a generated dataset, once per test process and
    architecture: returns (TrainResult, data.yaml, val DetectionDataset)."""
    key = (model, width, epochs)
    if key not in _TRAINED:
        from edgeprune.train import TrainConfig, train

        data_yaml, train_set, val_set = write_dataset(root / "shapes", train=96, val=24)
        config = TrainConfig(data=str(data_yaml), model=model, width=width, imgsz=96,
                             epochs=epochs, batch=8, workers=0, lr=0.005)
        result = train(config, root / "run", train_data=train_set, val_data=val_set,
                       show_progress=False)
        _TRAINED[key] = (result, data_yaml, val_set)
    return _TRAINED[key]


def trained_tiny_model(root: Path):
    """yolov3-tiny at width 0.25, the model most tests share."""
    return trained_model(root)
