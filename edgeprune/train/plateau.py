"""When training has converged: the plateau rule (`edgeprune train --plateau N`).

A base that is not converged makes every comparison built on it meaningless (a base trained
too briefly scored below a yolov3-tiny trained from scratch on the same data), so training can
run until validation stops improving instead of for a guessed number of epochs: it stops when
the best mAP@0.5 of the last `window` epochs beats the best before them by less than `gain`,
with --epochs as the maximum. A gain that is still a tenth or more of what was reached before
never counts as a plateau: early on (warm-up on a small set) every score is near zero, and an
absolute threshold alone stopped a base at epoch 4 with mAP@0.5 0.0002 (+0.0002 over 0.0000).
The decision is a function of the epochs recorded in results.csv, so a resumed run decides
exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError

PLATEAU_FILE = "plateau.json"
DEFAULT_GAIN = 0.005  # mAP@0.5, absolute
# ... and less than this share of the best before the window: on a converged curve (0.5 and
# up) the absolute threshold decides alone; near zero this one keeps a run training
RELATIVE_GAIN = 0.1


@dataclass(frozen=True)
class PlateauRule:
    window: int  # epochs
    gain: float = DEFAULT_GAIN

    def __post_init__(self) -> None:
        if self.window < 1:
            raise EdgepruneError(f"--plateau must be at least 1 epoch, got {self.window}")
        if not 0 <= self.gain < 1:
            raise EdgepruneError(f"--plateau-gain must be in [0, 1), got {self.gain}")

    def verdict(self, scores: list[float]) -> str | None:
        """Why training stops after these per-epoch val mAP@0.5 scores, or None."""
        if len(scores) <= self.window:
            return None
        before, recent = max(scores[:-self.window]), max(scores[-self.window:])
        if recent - before >= self.gain or recent - before >= RELATIVE_GAIN * before:
            return None
        return (f"converged: the best val mAP@0.5 of the last {self.window} epochs "
                f"({recent:.4f}) beats the best before them ({before:.4f}) by "
                f"{recent - before:+.4f}, less than {self.gain:g} and less than "
                f"{RELATIVE_GAIN:.0%} of {before:.4f}")


def write_verdict(run_dir: Path, rule: PlateauRule, epoch: int, reason: str) -> None:
    atomic_write_text(Path(run_dir) / PLATEAU_FILE, json.dumps(
        {**asdict(rule), "stopped_after_epoch": epoch, "reason": reason}, indent=1) + "\n")


def read_verdict(run_dir: Path) -> dict | None:
    """What the plateau rule decided in a run folder, or None (not stopped by it)."""
    path = Path(run_dir) / PLATEAU_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EdgepruneError(f"{path}: damaged ({exc})") from None
