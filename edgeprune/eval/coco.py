"""COCO-style mAP with pycocotools, from edgeprune samples and detections.

Ground truth and detections are handed to pycocotools as in-memory COCO structures (category id
= class index + 1, image id = sample index + 1, boxes [x, y, w, h]). Ignore regions (VOC
`ignore` objects) become COCO crowd regions of every class: pycocotools matches a detection to
a crowd region by the fraction of the detection inside it, and neither counts a detection
matched there as a false positive nor the region as a miss. Only the "all" area range is
evaluated (the per-size ranges would quadruple the work and nothing here reports them).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from edgeprune.data.dataset import Sample
from edgeprune.runtime.postprocess import Detections


def _xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def _coco(images: list[dict], categories: list[dict], annotations: list[dict]):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = {"images": images, "categories": categories, "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress lines
        coco.createIndex()
    return coco


def ground_truth_annotations(samples: list[Sample], num_classes: int) -> list[dict]:
    """COCO annotations of `samples` (image id = index + 1), ignore regions as crowds."""
    annotations: list[dict] = []
    for index, sample in enumerate(samples):
        for box, class_id in zip(_xywh(sample.boxes), sample.class_ids, strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": int(class_id) + 1, "bbox": box.tolist(),
                                "area": float(box[2] * box[3]), "iscrowd": 0})
        for box in _xywh(sample.ignore_boxes):
            for class_id in range(num_classes):
                annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                    "category_id": class_id + 1, "bbox": box.tolist(),
                                    "area": float(box[2] * box[3]), "iscrowd": 1})
    return annotations


def detection_annotations(detections: list[Detections]) -> list[dict]:
    """COCO results of per-image detections (image id = index + 1)."""
    annotations: list[dict] = []
    for index, found in enumerate(detections):
        for box, score, class_id in zip(_xywh(found.boxes), found.scores, found.class_ids,
                                        strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": int(class_id) + 1, "bbox": box.tolist(),
                                "area": float(box[2] * box[3]), "score": float(score),
                                "iscrowd": 0})
    return annotations


class CocoMatcher:
    """Ground truth indexed once; `evaluate(detections)` runs pycocotools against it.

    Building the index once matters to the search, which scores many candidate models on the
    same validation subset.
    """

    def __init__(self, samples: list[Sample], num_classes: int, max_detections: int = 300):
        self.num_classes = num_classes
        self.max_detections = max_detections
        self._images = [{"id": i + 1} for i in range(len(samples))]
        self._categories = [{"id": c + 1, "name": str(c)} for c in range(num_classes)]
        self.ground_truth = _coco(self._images, self._categories,
                                  ground_truth_annotations(samples, num_classes))

    def evaluate(self, detections: list[Detections]) -> tuple[np.ndarray, np.ndarray]:
        """COCO's interpolated precision (iou thresholds 10, recall points 101, classes) and
        maximum recall (iou thresholds 10, classes); -1 where a class has no ground truth."""
        result = self._accumulate(detections)
        return result["precision"][:, :, :, 0, -1], result["recall"][:, :, 0, -1]

    def _accumulate(self, detections: list[Detections]) -> dict:
        from pycocotools.cocoeval import COCOeval

        if len(detections) != len(self._images):
            raise ValueError(f"{len(detections)} detection lists for {len(self._images)} "
                             f"images")
        results = _coco(self._images, self._categories, detection_annotations(detections))
        evaluator = COCOeval(self.ground_truth, results, iouType="bbox")
        evaluator.params.areaRng = [[0.0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.params.maxDets = [self.max_detections]
        with contextlib.redirect_stdout(io.StringIO()):  # evaluate/accumulate print timings
            evaluator.evaluate()
            evaluator.accumulate()
        return evaluator.eval
