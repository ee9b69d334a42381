"""The COCO evaluator: perfect and shifted predictions, ignore regions, a real Detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprune.data.dataset import DetectionDataset, Sample
from edgeprune.errors import EdgepruneError
from edgeprune.eval import Evaluator, evaluate, subset
from edgeprune.runtime.detector import Detector
from edgeprune.runtime.postprocess import Detections
from tests.datagen_helpers import trained_tiny_model

NAMES = ["armor", "robot"]


def _dataset(ignore: bool = False) -> DetectionDataset:
    samples = [
        Sample(Path("a.png"), np.array([[10, 10, 50, 40], [60, 20, 90, 80]], np.float32),
               np.array([0, 1])),
        Sample(Path("b.png"), np.array([[5, 5, 25, 30]], np.float32), np.array([0]),
               ignore_boxes=(np.array([[100, 100, 160, 150]], np.float32) if ignore
                             else np.zeros((0, 4), np.float32))),
        Sample(Path("c.png"), np.zeros((0, 4), np.float32), np.zeros(0, np.int64)),
    ]
    return DetectionDataset(list(NAMES), samples, split="val", source="test.yaml")


def _perfect(dataset: DetectionDataset, shift: float = 0.0) -> list[Detections]:
    return [Detections(s.boxes + np.float32(shift), np.ones(len(s.boxes), np.float32),
                       s.class_ids.astype(np.int64)) for s in dataset.samples]


def _with(found: Detections, box, score: float, class_id: int) -> Detections:
    return Detections(np.vstack([found.boxes, np.array([box], np.float32)]),
                      np.append(found.scores, np.float32(score)),
                      np.append(found.class_ids, class_id))


def test_perfect_predictions_score_one():
    dataset = _dataset()
    map50, map50_95, classes = Evaluator(dataset).score(_perfect(dataset))
    assert map50 == pytest.approx(1.0) and map50_95 == pytest.approx(1.0)
    assert [(c.name, c.images, c.instances) for c in classes] == [("armor", 2, 2),
                                                                  ("robot", 1, 1)]
    assert all(c.ap50 == pytest.approx(1.0) and c.recall50 == pytest.approx(1.0)
               for c in classes)


def test_shifted_boxes_score_lower():
    dataset = _dataset()
    evaluator = Evaluator(dataset)
    slight = evaluator.score(_perfect(dataset, shift=3.0))
    far = evaluator.score(_perfect(dataset, shift=15.0))
    assert slight[0] == pytest.approx(1.0)  # still IoU > 0.5 everywhere
    assert slight[1] < 0.9  # but not at the strict thresholds
    assert far[0] < 0.5 and far[1] < slight[1]


def test_missed_and_wrong_class_detections_cost_ap():
    dataset = _dataset()
    detections = _perfect(dataset)
    detections[0] = Detections(detections[0].boxes[:1], detections[0].scores[:1],
                               detections[0].class_ids[:1])  # the robot is missed
    _, _, classes = Evaluator(dataset).score(detections)
    assert classes[0].ap50 == pytest.approx(1.0) and classes[1].ap50 == pytest.approx(0.0)
    detections = _perfect(dataset)
    detections[1] = _with(detections[1], [5, 5, 25, 30], 2.0, 1)  # confident wrong class
    _, _, classes = Evaluator(dataset).score(detections)
    assert classes[1].ap50 < 1.0


def test_ignore_regions_are_neither_false_positives_nor_misses():
    plain, ignoring = _dataset(ignore=False), _dataset(ignore=True)
    # a confident detection inside the ignore region, ranked above every true positive
    detections = _perfect(plain)
    detections[1] = _with(detections[1], [105, 105, 150, 145], 2.0, 0)
    penalised = Evaluator(plain).score(detections)
    forgiven = Evaluator(ignoring).score(detections)
    assert penalised[0] < 1.0
    assert forgiven[0] == pytest.approx(1.0) and forgiven[1] == pytest.approx(1.0)
    # nothing detected in the region is not a miss
    assert Evaluator(ignoring).score(_perfect(ignoring))[0] == pytest.approx(1.0)
    # a detection mostly outside the region is still a false positive
    detections[1] = _with(_perfect(plain)[1], [140, 140, 220, 220], 2.0, 0)
    assert Evaluator(ignoring).score(detections)[0] < 1.0


def test_unlabelled_split_and_empty_split_are_errors():
    empty = DetectionDataset(list(NAMES), [], source="x.yaml")
    with pytest.raises(EdgepruneError, match="no images"):
        Evaluator(empty)
    background = DetectionDataset(list(NAMES), [_dataset().samples[2]], source="x.yaml")
    with pytest.raises(EdgepruneError, match="no labelled boxes"):
        Evaluator(background)


def test_subset_is_fixed_by_seed():
    dataset = _dataset()
    assert subset(dataset, 10) is dataset
    first = [s.image_path for s in subset(dataset, 2, seed=1).samples]
    again = [s.image_path for s in subset(dataset, 2, seed=1).samples]
    assert first == again and len(first) == 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny_model(tmp_path_factory.mktemp("trained"))


def test_evaluate_a_real_detector(trained):
    result, _, val_set = trained
    detector = Detector(result.best)  # robot thresholds: evaluate switches to mAP ones
    outcome = evaluate(detector, val_set, batch_size=4)
    assert outcome.map50 > 0.2 and 0 < outcome.map50_95 < outcome.map50
    assert outcome.conf_threshold == 0.001 and detector.conf_threshold == 0.25
    assert outcome.images == len(val_set) and outcome.images_per_second > 0
    assert outcome.to_json()["classes"][0]["name"] == "red_box"
    # the evaluator that scored the last epoch in training gives the same number
    assert outcome.map50 == pytest.approx(result.final_eval.map50, abs=1e-9)
    cached = Evaluator(subset(val_set, 8), cache_images=True)
    assert cached(detector).map50 == pytest.approx(cached(detector).map50)
    with pytest.raises(EdgepruneError, match="3 classes, the dataset"):
        evaluate(detector, _dataset())
