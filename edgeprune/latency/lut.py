"""NetAdapt-style latency lookup table: per-layer latencies over a grid of channel widths, and
a predictor of whole-model latency built from them.

Each conv, maxpool and upsample layer of the base cfg is measured alone (a one-layer ONNX
model at the layer's input size) for input and output channel counts at every grid fraction of
its own. A model's prediction sums its layers' latencies, read from the table by piecewise
linear interpolation over multiply-adds (convs) or channels (pools, upsamples) among entries
of the same geometry (kernel, stride, groups, activation, input size), then corrects the sum
with a line fitted on whole models measured at the grid's uniform widths: that line absorbs
what single layers do not see (shortcut adds, concatenations, the yolo decode, per-run
overhead, cache effects between layers). The predictor only pre-screens candidates; rewards
use measured latency.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError
from edgeprune.latency.layer_onnx import (
    conv_onnx,
    identity_onnx,
    maxpool_onnx,
    upsample_onnx,
)
from edgeprune.latency.variants import scaled_channels
from edgeprune.models.cfg import ConvLayer, DarknetCfg, MaxpoolLayer, UpsampleLayer
from edgeprune.models.shapes import infer_shapes, input_channels

LUT_FORMAT = "edgeprune-latency-lut"
DEFAULT_GRID = (0.25, 0.5, 0.75, 1.0)
DEFAULT_ROUND_TO = 8


@dataclass(frozen=True)
class LayerQuery:
    """One layer as the table sees it: geometry (the group key) plus channel counts."""

    kind: str  # conv, maxpool, upsample (identity: PER_RUN_UNIT)
    geometry: tuple
    in_channels: int
    out_channels: int

    @property
    def size_measure(self) -> float:
        """What latency grows with inside a geometry group: MACs per pixel, or channels."""
        if self.kind == "conv":
            kernel, _, groups = self.geometry[:3]
            return self.in_channels / groups * self.out_channels * kernel * kernel
        return float(self.in_channels)

    def group(self) -> str:
        return json.dumps([self.kind, list(self.geometry)])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The unit's one input: batch 1, its input channels, the size it has in the base."""
        return (1, self.in_channels, *self.geometry[-2:])

    def to_json(self) -> dict:
        return {"kind": self.kind, "geometry": list(self.geometry),
                "in_channels": self.in_channels, "out_channels": self.out_channels}

    @classmethod
    def from_json(cls, data: dict) -> LayerQuery:
        return cls(str(data["kind"]), tuple(data["geometry"]), int(data["in_channels"]),
                   int(data["out_channels"]))


# The model that does nothing (layer_onnx.identity_onnx, a 1x1x8x8 input): its median is the
# runtime's fixed cost per run, which build_table takes off every unit.
PER_RUN_UNIT = LayerQuery("identity", (8, 8), 1, 1)


def layer_queries(cfg: DarknetCfg, imgsz: tuple[int, int]) -> list[tuple[int, LayerQuery]]:
    """(layer index, query) for every layer the table models."""
    shapes = infer_shapes(cfg, imgsz)
    queries = []
    for index, layer in enumerate(cfg.layers):
        channels = input_channels(cfg, shapes, index)
        previous = shapes[index - 1] if index else None
        height, width = (previous.height, previous.width) if previous else imgsz
        if isinstance(layer, ConvLayer):
            geometry = (layer.size, layer.stride, layer.groups, layer.padding_pixels,
                        layer.activation, height, width)
            queries.append((index, LayerQuery("conv", geometry, channels, layer.filters)))
        elif isinstance(layer, MaxpoolLayer):
            geometry = (layer.size, layer.stride, layer.total_padding, height, width)
            queries.append((index, LayerQuery("maxpool", geometry, channels, channels)))
        elif isinstance(layer, UpsampleLayer):
            geometry = (layer.stride, height, width)
            queries.append((index, LayerQuery("upsample", geometry, channels, channels)))
    return queries


def grid_queries(cfg: DarknetCfg, imgsz: tuple[int, int], grid: Sequence[float],
                 round_to: int = 1) -> list[LayerQuery]:
    """Every distinct layer the table measures: each modelled layer at each grid fraction of
    its input and output channels (the image channels and the heads' outputs stay fixed)."""
    fixed_outputs = {i - 1 for i in cfg.yolo_indices}
    seen: dict[LayerQuery, None] = {}
    for index, query in layer_queries(cfg, imgsz):
        ins = ([query.in_channels] if index == 0 else
               sorted({scaled_channels(query.in_channels, g, round_to) for g in grid}))
        if query.kind == "conv":
            outs = ([query.out_channels] if index in fixed_outputs else
                    sorted({scaled_channels(query.out_channels, g, round_to) for g in grid}))
            groups = query.geometry[2]
            for c_in in ins:
                for c_out in outs:
                    if c_in % groups == 0 and c_out % groups == 0:
                        seen[LayerQuery("conv", query.geometry, c_in, c_out)] = None
        else:
            for c_in in ins:
                seen[LayerQuery(query.kind, query.geometry, c_in, c_in)] = None
    return list(seen)


def query_onnx(query: LayerQuery) -> bytes:
    if query.kind == "identity":
        return identity_onnx()
    if query.kind == "conv":
        size, stride, groups, padding, activation, height, width = query.geometry
        return conv_onnx(query.in_channels, query.out_channels, size, stride, padding, groups,
                         activation, (height, width))
    if query.kind == "maxpool":
        size, stride, total_padding, height, width = query.geometry
        return maxpool_onnx(query.in_channels, size, stride, total_padding, (height, width))
    stride, height, width = query.geometry
    return upsample_onnx(query.in_channels, stride, (height, width))


@dataclass
class LatencyPredictor:
    """Per-layer table plus the whole-model correction line `ms = slope * sum + intercept`."""

    entries: dict[str, list[tuple[int, int, float]]]  # group -> [(in, out, ms)]
    imgsz: tuple[int, int]
    slope: float = 1.0
    intercept: float = 0.0
    meta: dict = field(default_factory=dict)
    # per-geometry conv fits, made once: a knapsack or a latency model asks thousands of times
    _conv_fits: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_measurements(cls, measured: list[tuple[LayerQuery, float]],
                          imgsz: tuple[int, int], meta: dict | None = None) -> LatencyPredictor:
        entries: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
        for query, ms in measured:
            entries[query.group()].append((query.in_channels, query.out_channels, ms))
        return cls({k: sorted(v) for k, v in entries.items()}, imgsz, meta=meta or {})

    def layer_ms(self, query: LayerQuery) -> float:
        """A layer's latency: its own entry when measured; for convs off the grid, a per-
        geometry least-squares model ms ~ MACs + in + out + 1 (compute, input reads, output
        writes, fixed cost); otherwise interpolation over the size measure."""
        points = self.entries.get(query.group())
        if not points:
            raise EdgepruneError(f"the latency table has no {query.kind} layer of geometry "
                                 f"{list(query.geometry)}; it was built for input "
                                 f"{self.imgsz[1]}x{self.imgsz[0]} and other layer shapes")
        for c_in, c_out, ms in points:
            if (c_in, c_out) == (query.in_channels, query.out_channels):
                return ms
        if query.kind == "conv" and len({p[0] for p in points}) > 1 \
                and len({p[1] for p in points}) > 1 and len(points) >= 4:
            group = query.group()
            weights = self._conv_fits.get(group)
            if weights is None:
                features = np.array([_conv_features(query, c_in, c_out)
                                     for c_in, c_out, _ in points])
                weights, *_ = np.linalg.lstsq(features, np.array([p[2] for p in points]),
                                              rcond=None)
                self._conv_fits[group] = weights
            estimate = _conv_features(query, query.in_channels, query.out_channels) @ weights
            return max(0.0, float(estimate))
        return self._interpolate(query, points)

    @staticmethod
    def _interpolate(query: LayerQuery, points: list[tuple[int, int, float]]) -> float:
        by_size: dict[float, list[float]] = defaultdict(list)
        for c_in, c_out, ms in points:
            size = LayerQuery(query.kind, query.geometry, c_in, c_out).size_measure
            by_size[size].append(ms)
        xs = np.array(sorted(by_size))
        ys = np.array([np.mean(by_size[x]) for x in xs])
        x = query.size_measure
        if len(xs) == 1:
            return float(ys[0] * x / xs[0]) if xs[0] > 0 else float(ys[0])
        if x > xs[-1]:  # extend the last segment's slope beyond the table
            return float(ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (x - xs[-1]))
        return float(np.interp(x, xs, ys))

    def layer_sum_ms(self, cfg: DarknetCfg) -> float:
        return sum(self.layer_ms(q) for _, q in layer_queries(cfg, self.imgsz))

    def predict_ms(self, cfg: DarknetCfg) -> float:
        """Predicted whole-model latency of `cfg` at the table's input size."""
        return self.slope * self.layer_sum_ms(cfg) + self.intercept

    def fit(self, models: Sequence[tuple[DarknetCfg, float]]) -> None:
        """The correction line from layer sums to measured whole-model medians."""
        if models:
            self.slope, self.intercept = correction_line(
                [self.layer_sum_ms(cfg) for cfg, _ in models], [ms for _, ms in models])

    def to_json(self) -> dict:
        return {"format": LUT_FORMAT, "imgsz": list(self.imgsz), "slope": self.slope,
                "intercept": self.intercept, "meta": self.meta,
                "entries": {k: [list(p) for p in v] for k, v in self.entries.items()}}

    def save(self, path: str | Path) -> Path:
        atomic_write_text(path, json.dumps(self.to_json(), indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> LatencyPredictor:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EdgepruneError(f"{path}: not a readable latency table ({exc})") from None
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: dict, source: str = "latency table") -> LatencyPredictor:
        if not isinstance(data, dict) or data.get("format") != LUT_FORMAT:
            raise EdgepruneError(f"{source}: not an edgeprune latency table")
        try:
            return cls({k: [(int(p[0]), int(p[1]), float(p[2])) for p in v]
                        for k, v in data["entries"].items()},
                       tuple(data["imgsz"]), float(data["slope"]), float(data["intercept"]),
                       dict(data.get("meta", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgepruneError(f"{source}: malformed latency table ({exc})") from None


def correction_line(sums: Sequence[float], measured: Sequence[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line `measured ~ slope * sum + intercept`, held
    to what the line means: a whole model costs its layers times a positive factor plus a
    fixed overhead that is never negative. A free fit through a few noisy points can tilt
    below zero at small sums (a 64 px tiny model measured at 0.17 ms was once predicted at
    -0.07 ms); such a fit, or one with too few distinct sums, falls back to the least-squares
    line through the origin (and a table of nothing but zeros to the identity)."""
    xs, ys = np.asarray(sums, dtype=float), np.asarray(measured, dtype=float)
    if len(xs) >= 2 and np.ptp(xs) > 0:
        slope, intercept = (float(v) for v in np.polyfit(xs, ys, 1))
        if slope > 0 and intercept >= 0:
            return slope, intercept
    square = float(xs @ xs)
    return (float(xs @ ys) / square if square > 0 else 1.0), 0.0


def _conv_features(query: LayerQuery, c_in: int, c_out: int) -> np.ndarray:
    kernel, _, groups = query.geometry[:3]
    return np.array([c_in / groups * c_out * kernel * kernel, c_in, c_out, 1.0])


def build_table(cfg: DarknetCfg, imgsz: tuple[int, int], measure: Callable[[bytes], float],
                grid: Sequence[float] = DEFAULT_GRID, round_to: int = 1,
                progress: Callable[[int, int], None] | None = None,
                meta: dict | None = None) -> LatencyPredictor:
    """Measure every grid layer of `cfg` with `measure(onnx_bytes) -> median ms`.

    The runtime's fixed cost per run is timed first (PER_RUN_UNIT)."""
    queries = grid_queries(cfg, imgsz, grid, round_to)
    per_run_ms = measure(query_onnx(PER_RUN_UNIT))
    medians = []
    for done, query in enumerate(queries, start=1):
        medians.append(measure(query_onnx(query)))
        if progress:
            progress(done, len(queries))
    return unit_table(queries, medians, per_run_ms, imgsz, meta)


def unit_table(queries: Sequence[LayerQuery], medians_ms: Sequence[float], per_run_ms: float,
               imgsz: tuple[int, int], meta: dict | None = None) -> LatencyPredictor:
    """The table of `queries` timed at `medians_ms`, each less the runtime's fixed cost per
    run `per_run_ms` (a whole model pays it once, not once per layer); what build_table and a
    device server's POST /units (server_units.py) answer."""
    measured = [(query, max(0.0, ms - per_run_ms))
                for query, ms in zip(queries, medians_ms, strict=True)]
    return LatencyPredictor.from_measurements(measured, imgsz,
                                              {**(meta or {}), "per_run_ms": per_run_ms})


# Single layers take microseconds to milliseconds; this protocol keeps a table of hundreds of
# entries to a few minutes while holding the median to +-2%.
LAYER_PROTOCOL = {"warmup_runs": 5, "warmup_seconds": 0.05, "min_runs": 15, "max_runs": 300,
                  "max_seconds": 2.0, "target_rel_ci": 0.02, "max_remeasures": 1,
                  "drift_every": 0}


@dataclass
class LutReport:
    """The predictor and how well it does: rows of name, measured_ms, predicted_ms, error."""

    predictor: LatencyPredictor
    calibration: list[dict]
    validation: list[dict]

    @property
    def mean_abs_error(self) -> float:
        errors = [abs(row["error"]) for row in self.validation]
        return float(np.mean(errors)) if errors else float("nan")

    @property
    def max_abs_error(self) -> float:
        errors = [abs(row["error"]) for row in self.validation]
        return float(np.max(errors)) if errors else float("nan")

    def to_json(self) -> dict:
        return {"calibration": self.calibration, "validation": self.validation,
                "mean_abs_error": self.mean_abs_error, "max_abs_error": self.max_abs_error}


def build_predictor(cfg: DarknetCfg, meter, imgsz: tuple[int, int],
                    grid: Sequence[float] = DEFAULT_GRID, variants: int = 4, seed: int = 0,
                    round_to: int = DEFAULT_ROUND_TO,
                    progress: Callable[[str, int, int], None] | None = None) -> LutReport:
    """Measure the table of `cfg` on `meter`'s device, fit the whole-model line on uniform
    width variants (one per grid fraction), and check it on `variants` random variants.
    Channel counts, in the table and the variants, are multiples of `round_to`."""
    from edgeprune.latency.units import measure_unit_table  # units.py reads this module
    from edgeprune.latency.variants import random_variants, uniform_variant

    def layer_progress(done: int, total: int) -> None:
        if progress:
            progress("layers", done, total)

    # on a device server, the server times the units itself (POST /units), in one request
    predictor = measure_unit_table(meter, cfg, imgsz, round_to, layer_progress, grid)
    shape = (1, cfg.net.channels, *imgsz)

    def measure_models(models: list[tuple[str, DarknetCfg]], stage: str) -> list[tuple]:
        measured = []
        for done, (name, model_cfg) in enumerate(models, start=1):
            measured.append((name, model_cfg,
                             meter.measure(model_cfg, shape, interleave=False).median_ms))
            if progress:
                progress(stage, done, len(models))
        return measured

    calibration = measure_models([(f"width {g:g}", uniform_variant(cfg, g, round_to))
                                  for g in grid], "calibration")
    predictor.fit([(c, ms) for _, c, ms in calibration])
    checks = measure_models([(f"random {i}", v) for i, v in
                             enumerate(random_variants(cfg, variants, seed,
                                                       round_to=round_to))], "validation")

    def rows(measured) -> list[dict]:
        out = []
        for name, model_cfg, ms in measured:
            predicted = predictor.predict_ms(model_cfg)
            out.append({"name": name, "measured_ms": ms, "predicted_ms": predicted,
                        "error": (predicted - ms) / ms if ms > 0 else float("nan")})
        return out

    return LutReport(predictor, rows(calibration), rows(checks))
