"""Training: the YOLOv3 loss, augmentation, schedule, EMA and the epoch loop (`train`)."""

from edgeprune.train.config import TrainConfig
from edgeprune.train.loss import LossConfig, YoloLoss
from edgeprune.train.trainer import ExtraLoss, Trainer, TrainResult, train

__all__ = ["ExtraLoss", "LossConfig", "TrainConfig", "TrainResult", "Trainer", "YoloLoss",
           "train"]
