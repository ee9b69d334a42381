"""Evaluation: COCO mAP of a Detector on a dataset (pycocotools), per-class AP, images/s."""

from edgeprune.eval.evaluate import ClassAP, EvalResult, Evaluator, evaluate, subset

__all__ = ["ClassAP", "EvalResult", "Evaluator", "evaluate", "subset"]
