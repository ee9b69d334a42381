"""Fine-tuning a pruned model, with distillation from its base model: `finetune(...)`.

It is the training loop of trainer.py started from the pruned checkpoint, with the
distillation term of distill.py added to the YOLOv3 loss, and a gentler start than training
from scratch: no boosted warm-up learning rate for biases (a trained model's batch-norm shifts
would be thrown far off by it) and a lower default learning rate. mAP is measured before and
after on the same validation images, with the same evaluator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgeprune.errors import EdgepruneError
from edgeprune.eval.evaluate import EvalResult
from edgeprune.models.checkpoint import load_checkpoint
from edgeprune.train.config import TrainConfig
from edgeprune.train.distill import Distillation, check_same_heads
from edgeprune.train.trainer import Trainer, TrainResult

FINETUNE_LR = 0.001  # Adam; training from scratch uses 0.002
# Fine-tuning's share of the base's training: published YOLO pruning gives it 16-100% (Darknet
# issue #3732: 16-32%; Torch-Pruning users and the DeepPCB model cards: about 100%); one to
# three epochs against a base's eight to ten lost 36-38 points here.
BASE_SHARE = 0.3


def base_epochs(teacher: str | Path) -> tuple[int, str]:
    """(epochs the base was trained, where that comes from): its run's results.csv beside it
    (what it really trained, a plateau stop included), else its checkpoint's planned epochs."""
    from edgeprune.train.run_files import read_results

    teacher = Path(teacher)
    trained = read_results(teacher.parent)
    if trained:
        return max(s.epoch for s in trained), f"{teacher.parent / 'results.csv'}"
    provenance = load_checkpoint(teacher).provenance
    planned = provenance.get("epochs_planned") or provenance.get("epochs")
    if not planned:
        raise EdgepruneError(f"{teacher}: how long the base was trained is not recorded (no "
                             f"results.csv beside it); give --epochs")
    return int(planned), f"{teacher}'s provenance"


def share_of_base(teacher: str | Path, share: float) -> tuple[int, str]:
    """Fine-tuning epochs: `share` of the base's training, at least one; and why."""
    epochs, source = base_epochs(teacher)
    chosen = max(1, math.ceil(share * epochs))
    return chosen, f"{share:g} x the base's {epochs} epochs ({source})"


@dataclass
class FinetuneResult:
    train: TrainResult
    before: EvalResult | None  # the pruned model as given
    after: EvalResult | None  # best.pt
    teacher: EvalResult | None  # the teacher, for reference
    teacher_path: str | None
    distill_weight: float


def finetune_config(weights: str | Path, data: str, epochs: int, imgsz: int | None = None,
                    **overrides) -> TrainConfig:
    """The TrainConfig of a fine-tuning run of checkpoint `weights` (architecture its own);
    the data must have the model's class count (a pruned model is tuned, not re-headed)."""
    from edgeprune.data import dataset_names

    student = load_checkpoint(weights)
    names = dataset_names(data)
    if len(names) != len(student.names):
        raise EdgepruneError(f"{weights} detects {len(student.names)} classes "
                             f"({', '.join(student.names)}); {data} has {len(names)}: "
                             f"fine-tune on the data the model was pruned for")
    if imgsz is None:
        height, width = student.imgsz
        if height != width:
            raise EdgepruneError(f"{weights}: input size {width}x{height} is not square; "
                                 f"give --imgsz")
        imgsz = height
    config = TrainConfig(data=data, model=None, weights=str(weights), imgsz=imgsz,
                         epochs=epochs, lr=FINETUNE_LR, warmup_epochs=0.0)
    return dataclasses.replace(config, **overrides).check()


def finetune(config: TrainConfig, run_dir: str | Path, teacher: str | Path | None = None,
             distill_weight: float = 1.0, *, console: Console | None = None,
             show_progress: bool = True, validate: bool = True,
             on_start: Callable[[], None] | None = None) -> FinetuneResult:
    """Fine-tune `config.weights` into `run_dir` (best.pt, last.pt, results.csv, config.yaml).
    With validation, the model as given is scored first and stays best.pt until an epoch
    beats it (`best_epoch` 0 then), so best.pt is never worse than the start.

    With a `teacher` checkpoint (the base the pruned model came from) and `distill_weight`
    > 0, the loss gets the distillation term. Returns the training result and mAP before and
    after (and the teacher's), on the validation split or its `val_images` subset.
    `on_start()` runs once the data is loaded and checked, before the first evaluation.
    """
    student = load_checkpoint(config.weights)
    extra_loss = None
    teacher_model = None
    if teacher is not None and distill_weight > 0:
        teacher_ckpt = load_checkpoint(teacher)
        check_same_heads(teacher_ckpt.model, student.model, str(teacher), str(config.weights))
        teacher_model = teacher_ckpt.model
        extra_loss = Distillation(teacher_model, distill_weight)
    provenance = {"finetune": {"student": str(config.weights), "teacher": str(teacher)
                               if teacher else None, "distill_weight": distill_weight
                               if extra_loss else 0.0,
                               "student_provenance": student.provenance}}
    trainer = Trainer(config, run_dir, extra_loss=extra_loss, validate=validate,
                      console=console, show_progress=show_progress, provenance=provenance)
    # A trained model fine-tunes from its own biases: the scratch-training warm-up rate for
    # biases (0.1) would move every batch-norm shift far off in the first steps.
    trainer.schedule = dataclasses.replace(trainer.schedule, warmup_bias_lr=0.0)
    if on_start is not None:
        on_start()
    if teacher_model is not None:
        teacher_model.to(trainer.device)
    before = teacher_eval = None
    if trainer.evaluator is not None:
        before = trainer.validate(student.model.to(trainer.device).eval())
        trainer.keep_start_unless_beaten(before)
        if teacher_model is not None:
            teacher_eval = trainer.validate(teacher_model.eval())
    result = trainer.run()
    return FinetuneResult(result, before, result.final_eval, teacher_eval,
                          str(teacher) if teacher_model is not None else None,
                          distill_weight if extra_loss else 0.0)
