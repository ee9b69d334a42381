"""The YOLOv3 loss: anchor assignment, box regression (CIoU), objectness and class BCE.

Assignment. Darknet makes a box the responsibility of the one anchor, over all heads, whose
shape (w, h, both centred) has the highest IoU with the box, in the grid cell holding the box
centre. ultralytics' YOLOv3 also makes every other anchor whose shape IoU exceeds a threshold
(`iou_t` = 0.2) responsible. We do both: the best anchor always, plus any anchor above
`anchor_iou_threshold` (1.0 disables the extras, which is Darknet's rule exactly): more
positives per box, more gradient per image, which is what short trainings need.

Box regression uses the model's own Darknet parameterisation (centre = sigmoid offset in the
cell, size = exp(t) x anchor) so the trained weights mean the same in Darknet and OpenCV, with
a CIoU loss on the decoded box instead of Darknet's MSE on t (a better-behaved gradient).
Objectness is BCE against the predicted box's IoU with its target on responsible cells and 0
elsewhere, weighted per stride (small-object heads more, as ultralytics balances them); classes
are independent logistic BCE, as in Darknet. Box and class terms are averaged over all
positives; loss gains follow ultralytics' defaults, scaled for head count and class count
(see LossConfig for input size), and the total is multiplied by the batch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from edgeprune.models.darknet import DarknetModel

# Objectness weight per head stride: a stride-8 head has 16x the cells of a stride-32 one.
OBJ_BALANCE = {8: 4.0, 16: 1.0, 32: 0.4, 64: 0.1}
MAX_LOG_SIZE = 8.0  # exp(t) is clamped here: e^8 x anchor already exceeds any input


@dataclass(frozen=True)
class LossConfig:
    box: float = 0.05
    obj: float = 1.0
    cls: float = 0.5
    anchor_iou_threshold: float = 0.2
    # ultralytics multiplies the objectness gain by (imgsz / 640)^2, which keeps the gradient
    # per positive cell equal across input sizes; measured here it slows small-input training
    # (docs/training.md, "Loss"), so by default the gain is not scaled.
    obj_scaled_by_imgsz: bool = False
    label_smoothing: float = 0.0


@dataclass
class LossParts:
    """The loss to backpropagate and its parts (detached, per image) for the progress bar."""

    total: torch.Tensor
    box: float
    obj: float
    cls: float


def box_ciou(box1: torch.Tensor, box2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of matching rows of (N, 4) centre-size boxes (Zheng et al., 2020)."""
    (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.unbind(-1), box2.unbind(-1)
    left = torch.max(x1 - w1 / 2, x2 - w2 / 2)
    right = torch.min(x1 + w1 / 2, x2 + w2 / 2)
    top = torch.max(y1 - h1 / 2, y2 - h2 / 2)
    bottom = torch.min(y1 + h1 / 2, y2 + h2 / 2)
    inter = (right - left).clamp(min=0) * (bottom - top).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    enclose_w = torch.max(x1 + w1 / 2, x2 + w2 / 2) - torch.min(x1 - w1 / 2, x2 - w2 / 2)
    enclose_h = torch.max(y1 + h1 / 2, y2 + h2 / 2) - torch.min(y1 - h1 / 2, y2 - h2 / 2)
    diagonal = enclose_w ** 2 + enclose_h ** 2 + eps
    centre_distance = (x2 - x1) ** 2 + (y2 - y1) ** 2
    aspect = (4 / math.pi ** 2) * (torch.atan(w2 / (h2 + eps)) - torch.atan(w1 / (h1 + eps))) ** 2
    with torch.no_grad():
        alpha = aspect / (aspect - iou + (1 + eps))
    return iou - (centre_distance / diagonal + aspect * alpha)


def shape_iou(sizes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """IoU (M, K) of box sizes (M, 2) and anchor sizes (K, 2), both centred at one point."""
    inter = torch.min(sizes[:, None], anchors[None]).prod(-1)
    return inter / (sizes.prod(-1)[:, None] + anchors.prod(-1)[None] - inter + 1e-9)


class YoloLoss(nn.Module):
    """Loss of a DarknetModel's training-mode outputs against (M, 6) targets:
    image index in the batch, class, cx, cy, w, h in input pixels."""

    def __init__(self, model: DarknetModel, config: LossConfig | None = None) -> None:
        super().__init__()
        self.config = config or LossConfig()
        layers = [model.cfg.layers[i] for i in model.cfg.yolo_indices]
        if not layers:
            raise ValueError("the model has no [yolo] layers to train")
        self.num_classes = model.num_classes
        self.scale_x_y = [layer.scale_x_y for layer in layers]
        anchors = [torch.tensor(layer.masked_anchors, dtype=torch.float32) for layer in layers]
        self.register_buffer("anchors", torch.cat(anchors), persistent=False)
        # head of each anchor in `anchors`, and its index within that head
        self.anchor_head = [h for h, layer in enumerate(layers) for _ in layer.mask]
        self.anchor_slot = [a for layer in layers for a in range(len(layer.mask))]

    def assign(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(target index, anchor index) pairs of every responsible anchor."""
        ious = shape_iou(targets[:, 4:6], self.anchors.to(targets.device))
        responsible = ious > self.config.anchor_iou_threshold
        responsible[torch.arange(len(targets), device=targets.device), ious.argmax(1)] = True
        return responsible.nonzero(as_tuple=True)

    def forward(self, outputs: list[torch.Tensor], targets: torch.Tensor,
                imgsz: tuple[int, int]) -> LossParts:
        config = self.config
        device = outputs[0].device
        batch = outputs[0].shape[0]
        targets = targets.to(device=device, dtype=torch.float32)
        targets = targets[(targets[:, 4] > 0) & (targets[:, 5] > 0)]
        target_index, anchor_index = (self.assign(targets) if len(targets)
                                      else (targets.new_zeros(0).long(),) * 2)
        anchor_head = torch.tensor(self.anchor_head, device=device)[anchor_index]
        anchor_slot = torch.tensor(self.anchor_slot, device=device)[anchor_index]
        box_sum = torch.zeros((), device=device)
        cls_sum = torch.zeros((), device=device)
        obj_loss = torch.zeros((), device=device)
        bce = nn.functional.binary_cross_entropy_with_logits
        for head, raw in enumerate(outputs):
            raw = raw.float()
            _, _, grid_h, grid_w, _ = raw.shape
            stride = torch.tensor([imgsz[1] / grid_w, imgsz[0] / grid_h], device=device)
            objectness_target = torch.zeros_like(raw[..., 4])
            here = anchor_head == head
            if here.any():
                chosen = targets[target_index[here]]
                slots = anchor_slot[here]
                centre = chosen[:, 2:4] / stride
                cell = centre.long()
                cell[:, 0].clamp_(0, grid_w - 1)
                cell[:, 1].clamp_(0, grid_h - 1)
                images = chosen[:, 0].long()
                picked = raw[images, slots, cell[:, 1], cell[:, 0]]
                s = self.scale_x_y[head]
                predicted_xy = torch.sigmoid(picked[:, 0:2]) * s - (s - 1) / 2
                anchor_cells = self.anchors.to(device)[anchor_index[here]] / stride
                predicted_wh = torch.exp(picked[:, 2:4].clamp(max=MAX_LOG_SIZE)) * anchor_cells
                ciou = box_ciou(torch.cat([predicted_xy, predicted_wh], 1),
                                torch.cat([centre - cell, chosen[:, 4:6] / stride], 1))
                box_sum = box_sum + (1 - ciou).sum()
                objectness_target[images, slots, cell[:, 1], cell[:, 0]] = (
                    ciou.detach().clamp(min=0).to(objectness_target.dtype))
                if self.num_classes > 1:
                    class_target = torch.full_like(picked[:, 5:], config.label_smoothing / 2)
                    class_target[torch.arange(len(chosen), device=device),
                                 chosen[:, 1].long()] = 1 - config.label_smoothing / 2
                    cls_sum = cls_sum + bce(picked[:, 5:], class_target,
                                            reduction="sum") / self.num_classes
            balance = OBJ_BALANCE.get(int(round(float(stride[0]))), 1.0)
            obj_loss = obj_loss + balance * bce(raw[..., 4], objectness_target)
        # Box and class terms are means over all positives of all heads (a head without
        # positives in a batch must not change the scale); x3 keeps ultralytics' gains, tuned
        # for a sum of three per-head means, meaning the same here.
        positives = max(len(target_index), 1)
        box_loss = box_sum / positives * config.box * 3
        cls_loss = cls_sum / positives * config.cls * self.num_classes / 80 * 3
        if config.obj_scaled_by_imgsz:
            obj_loss = obj_loss * (imgsz[0] * imgsz[1] / 640 ** 2)
        obj_loss = obj_loss * config.obj * 3 / len(outputs)
        total = (box_loss + obj_loss + cls_loss) * batch
        return LossParts(total, float(box_loss.detach()), float(obj_loss.detach()),
                     float(cls_loss.detach()))
