"""What a training run leaves in its folder: last.pt, best.pt, results.csv, config.yaml.

`last.pt` is an ordinary edgeprune checkpoint (the EMA weights, what gets evaluated) plus a
`train_state` entry (raw weights, optimizer, epoch, EMA count, best score, config) so that
`--resume` continues where the run stopped; `best.pt` is the checkpoint of the best epoch
without that state. Both are plain weights_only data, written atomically every epoch.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import yaml

from edgeprune.atomic import atomic_write_bytes, atomic_write_text
from edgeprune.errors import EdgepruneError
from edgeprune.models.checkpoint import Checkpoint, checkpoint_dict, load_checkpoint

LAST = "last.pt"
BEST = "best.pt"
RESULTS = "results.csv"
CONFIG = "config.yaml"


@dataclass
class EpochStats:
    epoch: int  # 1-based
    box: float
    obj: float
    cls: float
    extra: float
    lr: float
    train_seconds: float
    map50: float | None = None
    map50_95: float | None = None
    val_seconds: float = 0.0

    @property
    def fitness(self) -> float:
        """How best.pt is chosen: mostly mAP@0.5:0.95, a little mAP@0.5 (as ultralytics)."""
        if self.map50 is None or self.map50_95 is None:
            return -self.epoch  # no validation: the latest epoch is the best guess
        return 0.1 * self.map50 + 0.9 * self.map50_95


@dataclass
class TrainState:
    config: dict
    epoch: int  # epochs completed
    model: dict  # raw (non-EMA) state dict
    optimizer: dict
    ema_updates: int
    best_fitness: float
    best_epoch: int
    scaler: dict


def save_run_checkpoint(path: Path, ckpt: Checkpoint, state: TrainState | None) -> None:
    data = checkpoint_dict(ckpt)
    if state is not None:
        data["train_state"] = asdict(state)
    buffer = io.BytesIO()
    torch.save(data, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_run_state(run_dir: Path) -> tuple[Checkpoint, TrainState]:
    """The checkpoint and training state of `run_dir`/last.pt, for --resume."""
    path = run_dir / LAST
    if not path.is_file():
        raise EdgepruneError(f"{path}: nothing to resume (no last.pt in {run_dir})")
    ckpt = load_checkpoint(path)
    data = torch.load(path, map_location="cpu", weights_only=True)
    if "train_state" not in data:
        raise EdgepruneError(f"{path}: has no training state (was it stripped?); start a new "
                             f"run with --weights {path} instead")
    return ckpt, TrainState(**data["train_state"])


def write_results(run_dir: Path, history: list[EpochStats]) -> None:
    names = [f.name for f in fields(EpochStats)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    for stats in history:
        row = asdict(stats)
        writer.writerow(["" if row[n] is None else
                         (f"{row[n]:.6g}" if isinstance(row[n], float) else row[n])
                         for n in names])
    atomic_write_text(run_dir / RESULTS, buffer.getvalue())


def read_results(run_dir: Path) -> list[EpochStats]:
    path = run_dir / RESULTS
    if not path.is_file():
        return []
    types = {f.name: f.type for f in fields(EpochStats)}
    history = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            values = {}
            for name, text in row.items():
                if name not in types:
                    continue
                if text == "":
                    values[name] = None
                else:
                    values[name] = int(text) if name == "epoch" else float(text)
            history.append(EpochStats(**values))
    return history


def write_config(run_dir: Path, config: dict) -> None:
    atomic_write_text(run_dir / CONFIG, yaml.safe_dump(config, sort_keys=False))
