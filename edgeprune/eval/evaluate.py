"""mAP of a Detector on a dataset: `evaluate(detector, dataset)` -> `EvalResult`.

The Detector is the one that runs on the robot (runtime/detector.py), so evaluation measures
exactly the deployed pre-processing, inference and NMS. mAP is computed the standard way, at a
low confidence threshold (0.001), NMS IoU 0.6 and multi-label NMS: by default the Detector runs
with these for the duration of the evaluation, whatever it was built with for the robot
(`map_thresholds=False` keeps its own, e.g. to score the deployed settings).
An `Evaluator` keeps the ground-truth index and, optionally, the decoded images, so scoring many
models on one validation subset (the pruning search) pays for them once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from edgeprune.data.dataset import DetectionDataset
from edgeprune.data.images import read_image
from edgeprune.errors import EdgepruneError
from edgeprune.eval.coco import CocoMatcher
from edgeprune.runtime.detector import Detector
from edgeprune.runtime.postprocess import Detections

MAP_CONF_THRESHOLD = 0.001
MAP_IOU_THRESHOLD = 0.6


@dataclass(frozen=True)
class ClassAP:
    name: str
    images: int  # images with at least one box of this class
    instances: int
    ap50: float | None  # None when the class has no boxes in the evaluated images
    ap50_95: float | None
    recall50: float | None  # highest recall reached at IoU 0.5


@dataclass
class EvalResult:
    map50: float
    map50_95: float
    classes: list[ClassAP]
    images: int
    instances: int
    seconds: float  # wall time of the whole evaluation (reading images included)
    detector_seconds: float  # time inside the Detector (pre-processing, inference, NMS)
    detector: str = ""
    conf_threshold: float = MAP_CONF_THRESHOLD
    iou_threshold: float = MAP_IOU_THRESHOLD
    extra: dict = field(default_factory=dict)

    @property
    def recall50(self) -> float | None:
        """Mean over the classes with boxes of the highest recall at IoU 0.5 (averaged over
        classes as mAP is); None when no class has boxes."""
        recalls = [c.recall50 for c in self.classes if c.recall50 is not None]
        return sum(recalls) / len(recalls) if recalls else None

    @property
    def images_per_second(self) -> float:
        return self.images / self.detector_seconds if self.detector_seconds > 0 else 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        data["images_per_second"] = self.images_per_second
        data["recall50"] = self.recall50
        return data


def subset(dataset: DetectionDataset, count: int, seed: int = 0) -> DetectionDataset:
    """A fixed random `count` samples of `dataset` (all of it when smaller), in dataset order."""
    if count >= len(dataset):
        return dataset
    chosen = sorted(random.Random(seed).sample(range(len(dataset)), count))
    return DetectionDataset(names=dataset.names, samples=[dataset.samples[i] for i in chosen],
                            split=dataset.split, source=dataset.source,
                            problems=dataset.problems)


class Evaluator:
    """mAP of detectors on one dataset; ground truth (and images, if cached) prepared once."""

    def __init__(self, dataset: DetectionDataset, batch_size: int = 8,
                 cache_images: bool = False, max_detections: int = 300,
                 images: list[np.ndarray] | None = None) -> None:
        """`images`: the dataset's images already in memory, in its order (say, corrupted
        copies), scored in place of its files."""
        if images is not None and len(images) != len(dataset.samples):
            raise ValueError(f"{len(images)} images for {len(dataset.samples)} samples")
        if not dataset.samples:
            raise EdgepruneError(f"{dataset.source or 'dataset'}: no images in split "
                                 f"{dataset.split!r} to evaluate on")
        counts = np.zeros(len(dataset.names), dtype=np.int64)
        images_with = np.zeros(len(dataset.names), dtype=np.int64)
        for sample in dataset.samples:
            ids = np.asarray(sample.class_ids, dtype=np.int64)
            counts += np.bincount(ids, minlength=len(dataset.names))[:len(dataset.names)]
            images_with[np.unique(ids)] += 1
        if counts.sum() == 0:
            raise EdgepruneError(f"{dataset.source or 'dataset'}: split {dataset.split!r} has "
                                 f"no labelled boxes, so mAP is undefined")
        self.dataset = dataset
        self.batch_size = max(1, batch_size)
        self.instances = counts
        self.images_with = images_with
        self.matcher = CocoMatcher(dataset.samples, len(dataset.names), max_detections)
        self._cache: dict[int, np.ndarray] | None = (
            dict(enumerate(images)) if images is not None else {} if cache_images else None)

    def _image(self, index: int) -> np.ndarray:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        image = read_image(self.dataset.samples[index].image_path)
        if self._cache is not None:
            self._cache[index] = image
        return image

    def detect(self, detector: Detector,
               on_batch: Callable[[int], None] | None = None) -> tuple[list[Detections], float]:
        """Detections for every image, and the seconds spent inside the detector."""
        names = self.dataset.names
        if len(detector.names) != len(names):
            raise EdgepruneError(f"the model has {len(detector.names)} classes, the dataset "
                                 f"{self.dataset.source or ''} has {len(names)} "
                                 f"({', '.join(names)})")
        detections: list[Detections] = []
        detector_seconds = 0.0
        for start in range(0, len(self.dataset), self.batch_size):
            indices = range(start, min(start + self.batch_size, len(self.dataset)))
            images = [self._image(i) for i in indices]
            began = time.perf_counter()
            detections.extend(detector(images))
            detector_seconds += time.perf_counter() - began
            if on_batch is not None:
                on_batch(len(images))
        return detections, detector_seconds

    def score(self, detections: list[Detections]) -> tuple[float, float, list[ClassAP]]:
        """(mAP@0.5, mAP@0.5:0.95, per-class table) of detections for this dataset's images."""
        precision, recall = self.matcher.evaluate(detections)
        classes = []
        for k, name in enumerate(self.dataset.names):
            per_class = precision[:, :, k]
            valid = per_class[per_class > -1]
            has_boxes = self.instances[k] > 0 and valid.size > 0
            classes.append(ClassAP(
                name=name, images=int(self.images_with[k]), instances=int(self.instances[k]),
                ap50=float(per_class[0][per_class[0] > -1].mean()) if has_boxes else None,
                ap50_95=float(valid.mean()) if has_boxes else None,
                recall50=float(recall[0, k]) if has_boxes else None))
        at50 = precision[0][precision[0] > -1]
        every = precision[precision > -1]
        map50 = float(at50.mean()) if at50.size else 0.0
        map50_95 = float(every.mean()) if every.size else 0.0
        return map50, map50_95, classes

    def __call__(self, detector: Detector, map_thresholds: bool = True,
                 on_batch: Callable[[int], None] | None = None) -> EvalResult:
        began = time.perf_counter()
        saved = (detector.conf_threshold, detector.iou_threshold, detector.multi_label)
        if map_thresholds:
            detector.conf_threshold = MAP_CONF_THRESHOLD
            detector.iou_threshold = MAP_IOU_THRESHOLD
            detector.multi_label = True
        try:
            detections, detector_seconds = self.detect(detector, on_batch)
            conf, iou = detector.conf_threshold, detector.iou_threshold
        finally:
            detector.conf_threshold, detector.iou_threshold, detector.multi_label = saved
        map50, map50_95, classes = self.score(detections)
        return EvalResult(map50=map50, map50_95=map50_95, classes=classes,
                          images=len(self.dataset), instances=int(self.instances.sum()),
                          seconds=time.perf_counter() - began,
                          detector_seconds=detector_seconds, detector=repr(detector),
                          conf_threshold=conf, iou_threshold=iou)


def evaluate(detector: Detector, dataset: DetectionDataset, *, batch_size: int = 8,
             map_thresholds: bool = True, max_images: int | None = None, seed: int = 0,
             on_batch: Callable[[int], None] | None = None) -> EvalResult:
    """COCO mAP@0.5 and mAP@0.5:0.95 of `detector` on `dataset` (or a fixed random
    `max_images` subset of it), with a per-class AP table and the detector's images/s.

    The detector runs at conf 0.001, IoU 0.6, multi-label (the standard mAP setting) unless
    `map_thresholds=False`, which keeps the thresholds it was built with.
    """
    if max_images is not None:
        dataset = subset(dataset, max_images, seed)
    evaluator = Evaluator(dataset, batch_size=batch_size,
                          max_detections=detector.max_detections)
    return evaluator(detector, map_thresholds=map_thresholds, on_batch=on_batch)
