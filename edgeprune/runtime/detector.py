"""The Detector: BGR images in, detections in original image coordinates out.

One class does pre-processing (letterbox, BGR to RGB, [0, 1] floats, NCHW), inference through
an inference runtime (backends.py), decoding and class-aware NMS (postprocess.py), and maps
boxes back to each image. `edgeprune predict`, evaluation, the benchmarks and the ROS node
all call it, so what is measured is what runs on the robot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprune.data.letterbox import LetterboxInfo, boxes_to_original, prepare_batch
from edgeprune.errors import EdgepruneError
from edgeprune.runtime.backends import Runtime, create_runtime
from edgeprune.runtime.postprocess import Detections, decode_rows

# Rows kept for NMS after the objectness pre-filter; only reached by near-untrained models at
# very low thresholds, where NMS over every row would dominate an evaluation.
MAX_NMS_CANDIDATES = 10000


@dataclass
class StageTimes:
    """Seconds spent in each stage of the last call (what overhead benchmarks compare)."""

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    @property
    def total(self) -> float:
        return self.preprocess + self.inference + self.postprocess


class Detector:
    """Run a YOLOv3-family model on BGR uint8 images of any size, one or many at a time.

    `model` is a path (.pt checkpoint, .onnx, Darknet .weights with `cfg=`), a `Checkpoint`,
    an in-memory `DarknetModel`, or a ready `Runtime`. `runtime="auto"` picks the runtime
    from the model (`backend=`, its name in the last release, is deprecated); names and input
    size come from the model's own metadata unless given. `multi_label` keeps every class
    above the threshold per box (for mAP); otherwise each box gets its best class (what a
    robot acts on).
    """

    def __init__(self, model, runtime: str = "auto", imgsz=None, conf_threshold: float = 0.25,
                 iou_threshold: float = 0.45, max_detections: int = 300,
                 names: list[str] | None = None, *, multi_label: bool = False,
                 device: str | None = None, cfg: str | Path | None = None,
                 backend: str | None = None, **runtime_options) -> None:
        from edgeprune.models.loading import parse_imgsz

        if backend is not None:
            from edgeprune.deprecation import warn_deprecated

            warn_deprecated("Detector(backend=...)", "Detector(runtime=...)")
            runtime = backend

        if isinstance(model, Runtime):
            self.runtime = model
        else:
            if cfg is not None:
                runtime_options["cfg"] = cfg
            if device is not None:
                runtime_options["device"] = device
            self.runtime = create_runtime(model, runtime, **runtime_options)
        size = parse_imgsz(imgsz) if imgsz is not None else self.runtime.imgsz
        if size is None:
            raise EdgepruneError(f"{self.runtime.describe()}: the model does not state its "
                                 f"input size; pass imgsz")
        if self.runtime.fixed_imgsz and size != self.runtime.imgsz:
            raise EdgepruneError(f"the model's input is fixed at {self.runtime.imgsz[1]}x"
                                 f"{self.runtime.imgsz[0]}; it cannot run at {size[1]}x{size[0]}")
        self.imgsz: tuple[int, int] = size
        num_classes = self.runtime.num_classes
        names = list(names) if names is not None else self.runtime.names
        if names is None:
            names = [f"class{i}" for i in range(num_classes)]
        if len(names) != num_classes:
            raise EdgepruneError(f"{len(names)} class names for a model with {num_classes} "
                                 f"classes")
        self.names: list[str] = names
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.multi_label = multi_label
        self.last_times = StageTimes()

    def __repr__(self) -> str:
        return (f"Detector({self.runtime.describe()}, imgsz={self.imgsz[1]}x{self.imgsz[0]}, "
                f"classes={len(self.names)}, conf={self.conf_threshold}, "
                f"iou={self.iou_threshold})")

    def __call__(self, images: np.ndarray | list[np.ndarray]) -> list[Detections]:
        """Detections for each image: boxes x1, y1, x2, y2 in that image's own pixels."""
        start = time.perf_counter()
        batch, infos = self.preprocess(images)
        prepared = time.perf_counter()
        rows = self.runtime.run(batch)
        inferred = time.perf_counter()
        detections = self.postprocess(rows, infos)
        self.last_times = StageTimes(prepared - start, inferred - prepared,
                                     time.perf_counter() - inferred)
        return detections

    def preprocess(self, images: np.ndarray | list[np.ndarray]
                   ) -> tuple[np.ndarray, list[LetterboxInfo]]:
        """Letterboxed (B, 3, H, W) float32 RGB [0, 1] batch and where each image sits in it."""
        return prepare_batch(images, self.imgsz)

    def postprocess(self, rows: np.ndarray, infos: list[LetterboxInfo]) -> list[Detections]:
        """Threshold, NMS and map back each image's rows (N, 5 + C)."""
        if rows.ndim != 3 or len(rows) != len(infos) or rows.shape[2] != len(self.names) + 5:
            raise EdgepruneError(f"the runtime returned rows of shape {rows.shape}; expected "
                                 f"({len(infos)}, N, {len(self.names) + 5})")
        results = []
        for image_rows, info in zip(rows, infos, strict=True):
            # A score is objectness x class probability, so rows below the threshold in
            # objectness alone can never pass: drop them before the per-class work.
            candidates = image_rows[image_rows[:, 4] > self.conf_threshold]
            if len(candidates) > MAX_NMS_CANDIDATES:
                top = np.argpartition(-candidates[:, 4], MAX_NMS_CANDIDATES)
                candidates = candidates[top[:MAX_NMS_CANDIDATES]]
            found = decode_rows(candidates, self.conf_threshold, self.iou_threshold,
                                self.max_detections, self.multi_label)
            found.boxes = boxes_to_original(found.boxes, info.scale, info.pad,
                                            info.original_hw)
            results.append(found)
        return results
