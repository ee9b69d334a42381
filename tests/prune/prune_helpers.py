"""Helpers shared by the pruning tests (weights: tests.helpers.randomize_weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgeprune.models import Checkpoint, DarknetModel
from edgeprune.models.cfg import read_cfg

GROUPED_CFG = Path(__file__).parent / "grouped_tiny.cfg"


def grouped_model() -> DarknetModel:
    """yolov4-tiny style model: a grouped route and a depthwise conv."""
    return DarknetModel(read_cfg(GROUPED_CFG)).eval()


def image(imgsz: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(seed))


def detection_threshold(rows: np.ndarray, low: int = 60, high: int = 200) -> float:
    """A score threshold keeping between `low` and `high` boxes, placed in the widest gap
    between consecutive best-class scores so float noise cannot move a box across it."""
    best = np.sort((rows[:, 5:] * rows[:, 4:5]).max(axis=1))[::-1]
    high = min(high, len(best) - 2)
    gaps = best[low:high] - best[low + 1:high + 1]
    k = low + int(np.argmax(gaps))
    return float(best[k] + best[k + 1]) / 2


def opencv_agreement(model: DarknetModel, imgsz: int, folder: Path):
    """Write `model` as Darknet files, run them in OpenCV and our ONNX export in ONNX Runtime
    on the same image; returns the DetectionAgreement."""
    import onnxruntime as ort

    from edgeprune.export.opencv_check import compare_detections, opencv_darknet_detections
    from edgeprune.models.darknet_files import export_darknet
    from edgeprune.onnxio.serialize import onnx_bytes
    from edgeprune.runtime.postprocess import decode_rows

    names = [f"c{i}" for i in range(model.num_classes)]
    files = export_darknet(Checkpoint(model, names, (imgsz, imgsz)), folder)
    blob = image(imgsz, seed=1).numpy()
    session = ort.InferenceSession(onnx_bytes(model, (imgsz, imgsz)),
                                   providers=["CPUExecutionProvider"])
    rows = session.run(None, {"images": blob})[0][0]
    threshold = detection_threshold(rows)
    ours = decode_rows(rows, conf_threshold=threshold)
    theirs = opencv_darknet_detections(files["cfg"], files["weights"], blob,
                                       conf_threshold=threshold)
    return compare_detections(ours, theirs)
