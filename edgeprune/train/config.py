"""Everything a training run depends on, in one record that is saved with it for --resume.

Defaults are chosen so that the documented benchmark command (yolov3 at width 0.25, 320 px, on
generated RoboMaster-like data, on a 2-core CPU) reaches its mAP target; see docs/training.md.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from edgeprune.data.augment import AugmentConfig
from edgeprune.data.bad_data import check_bad_data_choice
from edgeprune.errors import EdgepruneError
from edgeprune.train.loss import LossConfig

OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 0.01, "adam": 0.002}


def default_workers() -> int:
    """Data-loading processes: leave one core to the training step itself."""
    return min(8, max(0, (os.cpu_count() or 1) - 1))


# Field names of run folders saved before the rename ("device" is the latency target
# everywhere else): read under their new names, so old runs resume as they were.
RENAMED_FIELDS = {"device": "torch_device", "threads": "torch_threads"}


def renamed_fields(data: dict) -> dict:
    """A saved config's fields with the old names under the new ones."""
    return {RENAMED_FIELDS.get(key, key) if RENAMED_FIELDS.get(key) not in data else key: value
            for key, value in data.items()}


@dataclass
class TrainConfig:
    data: str | None  # dataset YAML (None when datasets are handed to `train` directly)
    model: str | None = None  # built-in name or Darknet .cfg; None: the start weights' own
    width: float = 1.0
    weights: str | None = None  # starting weights: checkpoint .pt or Darknet .weights
    cfg: str | None = None  # the Darknet .cfg that goes with .weights
    imgsz: int = 416
    epochs: int = 30
    batch: int = 16
    workers: int = field(default_factory=default_workers)
    optimizer: str = "adam"
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    final_lr_fraction: float = 0.01
    torch_device: str | None = None  # None: cuda when available, else cpu
    torch_threads: int | None = None  # torch intra-op threads on the CPU; None: its default
    amp: bool = True  # mixed precision, on CUDA only
    seed: int = 0
    val_images: int | None = None  # validate on a fixed subset of this many images
    bad_data: str = "skip"  # data problems: skip (named in the run folder) or stop
    plateau_window: int | None = None  # stop when val mAP@0.5 has plateaued (train/plateau.py)
    plateau_gain: float = 0.005
    # robust fine-tuning (train/corrupt.py): the student sees corrupted batches
    corruptions: tuple[str, ...] = ()
    corruption_severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    corruption_share: float = 0.5
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def check(self) -> TrainConfig:
        if self.epochs < 1 or self.batch < 1:
            raise EdgepruneError("epochs and batch must be at least 1")
        if self.imgsz < 32 or self.imgsz % 32:
            raise EdgepruneError(f"--imgsz {self.imgsz}: must be a multiple of 32")
        if self.optimizer not in OPTIMIZERS:
            raise EdgepruneError(f"unknown optimizer {self.optimizer!r} "
                                 f"(known: {', '.join(OPTIMIZERS)})")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        if self.lr <= 0:
            raise EdgepruneError(f"learning rate must be positive, got {self.lr}")
        check_bad_data_choice(self.bad_data)
        if self.plateau_window is not None:
            self.plateau()  # its own checks
        self.batch_corruption()  # its own checks
        return self

    def batch_corruption(self):
        """How the student's batches are corrupted, or None (train/corrupt.py)."""
        from edgeprune.train.corrupt import BatchCorruption

        if not self.corruptions:
            return None
        return BatchCorruption(tuple(self.corruptions), tuple(self.corruption_severities),
                               self.corruption_share)

    def plateau(self):
        """The plateau rule of this run, or None (train every epoch)."""
        from edgeprune.train.plateau import PlateauRule

        if self.plateau_window is None:
            return None
        return PlateauRule(self.plateau_window, self.plateau_gain)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in renamed_fields(data).items() if k in known}
        values["augment"] = AugmentConfig(**values.get("augment", {}))
        values["loss"] = LossConfig(**values.get("loss", {}))
        return cls(**values)
