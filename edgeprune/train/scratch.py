"""The comparison every user makes: a thinner model of the same family trained from scratch.

`matched_width` finds the widest built-in model (yolov3 by default) whose latency, measured on
the search's device and timed against the base like every search candidate, is at most a
target; `train_scratch` trains it on the same data (cached by the demo like its base). A
pruned network is only worth its search if it beats this model at equal or lower latency.
`train_scratch` also trains any given architecture from scratch, a search's found one
included: Liu et al. (ICLR 2019) found a pruned architecture trained from scratch often
matches the fine-tuned one, so every comparison has that row beside it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from edgeprune.atomic import atomic_write_text
from edgeprune.console import escape

WIDTH_GRID = 64  # widths are searched on multiples of 1/64 (stable cache keys across runs)


@dataclass
class ScratchModel:
    weights: Path
    model: str
    width: float
    latency_ratio: float  # to the base, timed in the same window
    reused: bool
    seconds: float  # training time (of the run that made it, when reused)

    def to_json(self) -> dict:
        return {"weights": str(self.weights), "model": self.model, "width": self.width,
                "latency_ratio": self.latency_ratio, "seconds": self.seconds}


ROUND_TO = 8  # filter counts as the search's pruned networks keep them (--round-to)


def scratch_cfg(model: str, num_classes: int, imgsz: int, width: float,
                round_to: int = ROUND_TO):
    """The built-in `model` at `width`, filter counts multiples of `round_to`: odd counts
    (width 0.14 of 32 is 4.5) run slower than rounder, wider ones and would handicap it."""
    from edgeprune.models import builtin_cfg

    return builtin_cfg(model, num_classes=num_classes, width=width, imgsz=imgsz,
                       round_to=round_to)


def latency_ratio(meter, model: str, num_classes: int, imgsz: int, width: float,
                  round_to: int = ROUND_TO) -> float:
    """Latency of the built-in `model` at `width` over the base's, on `meter` (whose reference
    is the base), timed in one window."""
    result = meter.measure(scratch_cfg(model, num_classes, imgsz, width, round_to))
    return result.ratio  # 1 for the base's own width (LatencyMeter.measure)


def matched_width(meter, num_classes: int, imgsz: int, max_width: float, max_ratio: float,
                  model: str = "yolov3", round_to: int = ROUND_TO) -> tuple[float, float]:
    """(width, latency ratio to the base) of the widest `model` at most `max_ratio` of the
    base's latency, by bisection over (0, max_width] on the width grid."""
    def ratio(steps: int) -> float:
        return latency_ratio(meter, model, num_classes, imgsz, steps / WIDTH_GRID, round_to)

    low, high = 1, max(2, round(max_width * WIDTH_GRID) + 1)
    low_ratio = ratio(low)
    if low_ratio > max_ratio:  # even the thinnest is slower: report it as it is
        return low / WIDTH_GRID, low_ratio
    while high - low > 1:
        middle = (low + high) // 2
        measured = ratio(middle)
        if measured <= max_ratio:
            low, low_ratio = middle, measured
        else:
            high = middle
    return low / WIDTH_GRID, low_ratio


def train_scratch(data_yaml: Path, model: str, width: float, ratio: float, *, imgsz: int,
                  epochs: int, batch: int, seed: int, workers: int | None, run: Path,
                  console: Console, cache: Path | None = None, torch_device: str | None = None,
                  validate: bool = True, round_to: int = ROUND_TO,
                  architecture=None) -> ScratchModel:
    """`model` at `width` (filters multiples of `round_to`) trained from scratch on
    `data_yaml` into `run`, or `architecture` (a DarknetCfg, `model` then only names it);
    with `cache`, the model cached there is reused (the demo keys the folder by every
    setting)."""
    from edgeprune.data import dataset_names
    from edgeprune.models import write_cfg_text
    from edgeprune.train import TrainConfig
    from edgeprune.train.trainer import train

    if cache is not None and (cache / "scratch.pt").is_file():
        meta = json.loads((cache / "scratch.json").read_text())
        return ScratchModel(cache / "scratch.pt", model, width, ratio, True,
                            meta.get("seconds", 0.0))
    classes = len(dataset_names(str(data_yaml)))
    cfg = architecture or scratch_cfg(model, classes, imgsz, width, round_to)
    if cfg.num_classes != classes:
        from edgeprune.errors import EdgepruneError

        raise EdgepruneError(f"{cfg.source}: the architecture detects {cfg.num_classes} "
                             f"classes, {data_yaml} has {classes}")
    run.mkdir(parents=True, exist_ok=True)
    cfg_path = run / (f"{model}.cfg" if architecture is not None else f"{model}-w{width:g}.cfg")
    atomic_write_text(cfg_path, write_cfg_text(cfg))
    config = TrainConfig(data=str(data_yaml), model=str(cfg_path), imgsz=imgsz,
                         epochs=epochs, batch=batch, seed=seed, torch_device=torch_device)
    if workers is not None:
        config.workers = workers
    what = model if architecture is not None else f"{model} width {width:g}"
    console.print(f"training from scratch: {what} ({ratio:.3f} of the base's latency), "
                  f"{epochs} epochs, into {escape(run)}", highlight=False)
    result = train(config.check(), run, console=console, validate=validate)
    trained = ScratchModel(result.best, model, width, ratio, False, result.seconds)
    if cache is None:
        return trained
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / ".scratch.pt.partial"
    shutil.copyfile(result.best, partial)
    partial.replace(cache / "scratch.pt")
    atomic_write_text(cache / "scratch.json", json.dumps(trained.to_json(), indent=2))
    return ScratchModel(cache / "scratch.pt", model, width, ratio, False, result.seconds)
