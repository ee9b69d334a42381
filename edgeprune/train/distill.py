"""Knowledge distillation from a teacher's raw head outputs: the extra loss fine-tuning adds.

A pruned model keeps its base model's [yolo] heads (same anchors, strides and classes), so the
teacher (the base) and the student (the pruned model) predict on the same grid cells with the
same anchors, and the student can be taught cell by cell on the same augmented batch:

- objectness: KL divergence between the teacher's and the student's Bernoulli objectness, on
  every cell and anchor (what the teacher considers background is taught too);
- class: KL divergence of each class's Bernoulli probability (the heads use independent
  logistic classes, as Darknet does), on cells where the teacher's objectness exceeds
  `confident`, weighted by that objectness;
- box: squared error of the box parameters (sigmoid of the centre offsets, the raw log-size
  terms) on the same cells, same weights.

Each term is averaged (over cells, resp. over the teacher's confidence mass and classes),
summed over heads, multiplied by the batch size like the YOLOv3 loss, and scaled by `weight`.
This follows Chen et al. (2017) "Learning Efficient Object Detection Models with Knowledge
Distillation" in teaching objectness everywhere and regression only where the teacher sees an
object, and uses the teacher's soft labels rather than its NMS output.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from edgeprune.errors import EdgepruneError
from edgeprune.models.darknet import DarknetModel


def check_same_heads(teacher: DarknetModel, student: DarknetModel, teacher_name: str = "teacher",
                     student_name: str = "student") -> None:
    """Refuse a teacher whose [yolo] heads differ from the student's."""
    def heads(model: DarknetModel) -> list[tuple]:
        return [(model.cfg.layers[i].classes, tuple(model.cfg.layers[i].masked_anchors))
                for i in model.cfg.yolo_indices]

    if heads(teacher) != heads(student):
        raise EdgepruneError(f"{teacher_name} and {student_name} have different yolo heads "
                             f"(classes, anchors): distillation needs the student's base model "
                             f"as teacher")


def bernoulli_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of independent Bernoulli variables given as logits, per element."""
    target = torch.sigmoid(teacher_logits)
    return bce(student_logits, target, reduction="none") - \
        bce(teacher_logits, target, reduction="none")


class Distillation:
    """`extra_loss` for the Trainer: images, student raw head outputs, targets -> loss."""

    def __init__(self, teacher: DarknetModel, weight: float = 1.0,
                 confident: float = 0.5) -> None:
        if weight < 0:
            raise EdgepruneError(f"--distill-weight must be >= 0, got {weight}")
        self.teacher = teacher
        self.weight = weight
        self.confident = confident
        for parameter in teacher.parameters():
            parameter.requires_grad_(False)

    def teacher_outputs(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw per-head outputs with the teacher's batch norms in inference mode (training mode
        only makes the heads return raw tensors; nothing in the teacher is updated)."""
        teacher = self.teacher.train()
        for module in teacher.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        with torch.no_grad():
            return teacher(images)

    def __call__(self, images: torch.Tensor, outputs: list[torch.Tensor],
                 targets: torch.Tensor) -> torch.Tensor:
        return self.loss(self.teacher_outputs(images), outputs)

    def loss(self, taught: list[torch.Tensor], outputs: list[torch.Tensor]) -> torch.Tensor:
        """The distillation term of student `outputs` against the teacher's raw outputs
        `taught` on the same batch (several students can share one teacher pass)."""
        if [t.shape for t in taught] != [s.shape for s in outputs]:
            raise EdgepruneError(f"teacher and student head outputs differ in shape "
                                 f"({[tuple(t.shape) for t in taught]} vs "
                                 f"{[tuple(s.shape) for s in outputs]})")
        total = outputs[0].new_zeros((), dtype=torch.float32)
        for student, teacher in zip(outputs, taught, strict=True):
            student, teacher = student.float(), teacher.float()
            total = total + bernoulli_kl(student[..., 4], teacher[..., 4]).mean()
            confidence = torch.sigmoid(teacher[..., 4])
            cells = confidence > self.confident
            if not cells.any():
                continue
            weights = confidence[cells]
            mass = weights.sum()
            s, t = student[cells], teacher[cells]
            box_s = torch.cat([torch.sigmoid(s[:, 0:2]), s[:, 2:4]], dim=1)
            box_t = torch.cat([torch.sigmoid(t[:, 0:2]), t[:, 2:4]], dim=1)
            total = total + (weights[:, None] * (box_s - box_t) ** 2).sum() / mass
            if s.shape[1] > 5:
                kl = bernoulli_kl(s[:, 5:], t[:, 5:])
                total = total + (weights[:, None] * kl).sum() / (mass * kl.shape[1])
        return self.weight * outputs[0].shape[0] * total
