"""A latency model of one base on one device, built only from that device's measurements: a
per-layer unit table calibrated by whole networks, answering any pruned variant of the base
with a prediction and an interval.

What it predicts is the candidate's latency relative to the base (the ratio the search
compares, timed in the same window): a ratio carries over between sessions on a device whose
milliseconds drift, and the search turns it into ms with the base it measured.

Form (docs/latency.md, "The latency model"): the units are the layers as the runtime runs them
(a conv with its batch norm folded and its activation fused, a maxpool, an upsample), timed
alone on the device over a grid of channel counts (lut.py). A network's features are the sum
of its units from the table (ms) and its compute (GFLOPs), each relative to the base's, and
whole-network measurements fit a power law on them:

    log(ratio) = c0 + c1 log(table sum / the base's) + c2 log(GFLOPs / the base's)

The table alone misses what lies between layers (the adds and concatenations, the per-node
dispatch, caches that a layer alone has to itself, and when timed against the base, the
caches the other model took), and those costs do not scale one to one with it: on yolov3
width 0.5 at 160 px (ONNX Runtime, one thread), the table's sum alone predicted held-out
candidates with 3.9% mean error, a linear fit on five features with 3.8%, and this power law
with 2.9% (benchmarks/results/latency_model.md measures it in full). The interval is conformal:
the quantile of the leave-one-out relative errors of the calibration networks, so it widens
where the model has been wrong and is never narrower than the measurements' own precision.
With few whole networks the model uses fewer coefficients and a wide prior interval, so a
search measures most candidates at first and fewer as the model earns it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.latency.lut import LatencyPredictor, layer_queries
from edgeprune.models.cfg import DarknetCfg
from edgeprune.models.counting import count_gflops

MODEL_FORMAT = "edgeprune-latency-model"
FEATURES = ("unit table sum ms", "GFLOPs")
PRIOR_WIDTH = 0.25  # relative half-width before the model has earned a narrower one
MIN_WIDTH = 0.02  # never narrower than a measurement's own precision (protocol: +-2%)
LEVEL = 0.95  # the interval's coverage
SCALE_ONLY_BELOW = 6  # fewer whole networks: one scale on the table's sum
TWO_WEIGHTS_BELOW = 12  # fewer: a power law in the table's sum alone
MAX_POINTS = 600  # the most recent whole networks kept
SMALL_SAMPLE = 20  # fewer networks: a cautious interval (see _conformal_width)
SMALL_SAMPLE_WIDTH = 0.10
# the interval's low end as a share of the prediction at the least: a model wrong by 100% or
# more (absurd measurements on a busy machine) would put it at or below zero, and a latency
# must stay positive; so wide an interval makes the search measure the candidate anyway
LOWEST_SHARE = 0.01


class ModelMismatch(EdgepruneError):
    """A latency model asked about another device, backend, shape, precision or base."""


@dataclass(frozen=True)
class ModelKey:
    """What a latency model is valid for; a prediction for anything else is refused."""

    device: str  # DeviceIdentity.key(): the hardware and the threads
    backend: str  # backend name and version
    input_shape: tuple[int, ...]
    precision: str
    base: str  # architecture hash of the base the ratios are relative to
    timing: str  # "interleaved" (candidate and base in one window) or "alone"

    def mismatch(self, other: ModelKey) -> str | None:
        """One line naming the first field in which `other` differs, or None."""
        for name in ("device", "backend", "input_shape", "precision", "base", "timing"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                return (f"the latency model is for {name.replace('_', ' ')} "
                        f"{_short(mine)}, not {_short(theirs)}")
        return None

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "input_shape": list(self.input_shape)}

    @classmethod
    def from_json(cls, data: dict) -> ModelKey:
        return cls(**{**data, "input_shape": tuple(data["input_shape"])})

    def store_key(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Prediction:
    ratio: float  # predicted latency / the base's
    low: float  # the interval, as ratios
    high: float

    def ms(self, base_ms: float) -> tuple[float, float, float]:
        return self.ratio * base_ms, self.low * base_ms, self.high * base_ms


@dataclass
class LatencyModel:
    key: ModelKey
    table: LatencyPredictor  # the unit table measured on the device
    base_features: list[float]  # the base's features: the model's unit of measure
    points: list[tuple[list[float], float, str]] = field(default_factory=list)
    # ^ (features, measured ratio to the base, architecture hash) per whole network
    weights: list[float] = field(default_factory=list)
    width: float = PRIOR_WIDTH  # relative half-width of the interval

    @classmethod
    def create(cls, key: ModelKey, table: LatencyPredictor, base: DarknetCfg) -> LatencyModel:
        model = cls(key, table, [])
        model.base_features = model.features(base).tolist()
        model.refit()
        return model

    # ---------------------------------------------------------------------------- features

    def features(self, cfg: DarknetCfg) -> np.ndarray:
        """(unit table sum in ms, GFLOPs) of `cfg` at the table's input size."""
        table = sum(self.table.layer_ms(query) for _, query in layer_queries(cfg, self.table.imgsz))
        return np.array([float(table), float(count_gflops(cfg, self.table.imgsz))])

    # ---------------------------------------------------------------------------- fitting

    def add(self, cfg: DarknetCfg, ratio: float, arch_hash: str, refit: bool = True) -> None:
        """A whole network measured on the device: `ratio` its latency over the base's (a
        network measured before is replaced: the newest measurement counts, once)."""
        if not (math.isfinite(ratio) and ratio > 0):
            return
        self.points = [point for point in self.points if point[2] != arch_hash]
        self.points.append((self.features(cfg).tolist(), float(ratio), arch_hash))
        del self.points[:-MAX_POINTS]
        if refit:
            self.refit()

    def refit(self) -> None:
        xs = np.array([p[0] for p in self.points]).reshape(-1, len(FEATURES))
        ys = np.array([p[1] for p in self.points])
        self.weights = _fit(xs, ys, np.array(self.base_features)).tolist()
        self.width = float(_conformal_width(xs, ys, np.array(self.base_features)))

    # ---------------------------------------------------------------------------- answers

    def predict(self, cfg: DarknetCfg, key: ModelKey | None = None) -> Prediction:
        """The predicted ratio of `cfg`'s latency to the base's, with its interval; `key`
        (what the caller measures on) must be the model's."""
        if key is not None and (problem := self.key.mismatch(key)):
            raise ModelMismatch(problem)
        ratio = float(_apply(np.array(self.weights), self.features(cfg)[None, :],
                             np.array(self.base_features))[0])
        width = float(self.width)
        return Prediction(ratio, ratio * max(1 - width, LOWEST_SHARE), ratio * (1 + width))

    @property
    def calibrated_by(self) -> int:
        return len(self.points)

    def to_json(self) -> dict:
        return {"format": MODEL_FORMAT, "key": self.key.to_json(),
                "table": self.table.to_json(), "base_features": self.base_features,
                "points": [list(p) for p in self.points], "weights": self.weights,
                "width": self.width}

    @classmethod
    def from_json(cls, data: dict, source: str = "latency model") -> LatencyModel:
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise EdgepruneError(f"{source}: not an edgeprune latency model")
        try:
            table = LatencyPredictor.from_json(data["table"], source)
            return cls(ModelKey.from_json(data["key"]), table,
                       [float(v) for v in data["base_features"]],
                       [([float(v) for v in p[0]], float(p[1]), str(p[2]))
                        for p in data["points"]],
                       [float(v) for v in data["weights"]], float(data["width"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise EdgepruneError(f"{source}: malformed latency model ({exc})") from None


def _logs(xs: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The features relative to the base's, in logs (1 + the two logs per row)."""
    relative = np.maximum(xs / np.maximum(base, 1e-12), 1e-9)
    return np.c_[np.ones(len(xs)), np.log(relative)]


def _apply(weights: np.ndarray, xs: np.ndarray, base: np.ndarray) -> np.ndarray:
    return np.exp(_logs(xs, base) @ weights)


def _fit(xs: np.ndarray, ys: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Coefficients (c0, c1, c2) of the power law, fewer of them with fewer networks; with
    none, the table's sum relative to the base's (c1 = 1)."""
    weights = np.array([0.0, 1.0, 0.0])
    if len(ys) == 0:
        return weights
    logs, target = _logs(xs, base), np.log(ys)
    if len(ys) < SCALE_ONLY_BELOW:  # a scale on the table's sum: c0 alone
        weights[0] = float(np.mean(target - logs[:, 1]))
        return weights
    used = [0, 1] if len(ys) < TWO_WEIGHTS_BELOW else [0, 1, 2]
    solution, *_ = np.linalg.lstsq(logs[:, used], target, rcond=None)
    weights = np.zeros(3)
    weights[used] = solution
    return weights


def _conformal_width(xs: np.ndarray, ys: np.ndarray, base: np.ndarray) -> float:
    """The LEVEL quantile of the leave-one-out relative errors (split-conformal rank), at least
    MIN_WIDTH; with fewer than SMALL_SAMPLE networks, twice the worst of them and at least
    SMALL_SAMPLE_WIDTH (on 11 networks the worst leave-one-out error was 3.9% where held-out
    ones reached 11%), wider than the prior when the model has been that wrong; PRIOR_WIDTH
    until there are enough networks to say anything."""
    n = len(ys)
    if n < SCALE_ONLY_BELOW:
        return PRIOR_WIDTH
    errors = []
    for left_out in range(n):
        keep = np.arange(n) != left_out
        weights = _fit(xs[keep], ys[keep], base)
        predicted = float(_apply(weights, xs[left_out][None, :], base)[0])
        errors.append(abs(ys[left_out] / predicted - 1))
    rank = math.ceil((n + 1) * LEVEL)
    if n < SMALL_SAMPLE or rank > n:
        return max(2 * max(errors), SMALL_SAMPLE_WIDTH)
    return max(float(np.sort(errors)[rank - 1]), MIN_WIDTH)


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
