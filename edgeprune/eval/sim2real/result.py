"""What a sim-to-real evaluation found, per model: the domain gap and corruption robustness.

Suite numbers follow Michaelis et al., "Benchmarking Robustness in Object Detection" (2019):
the mean over corruptions and severities of the corrupted mAP (mPC) and that mean relative to
the clean mAP (rPC). Severity 0 is the clean image and is left out of every mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

METRICS = ("map50", "map50_95")
METRIC_LABELS = {"map50": "mAP@0.5", "map50_95": "mAP@0.5:0.95"}


def ratio(part: float | None, whole: float | None) -> float | None:
    """part / whole, or None where the whole is zero (nothing to retain)."""
    if part is None or whole is None or whole <= 0:
        return None
    return part / whole


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Score:
    """mAP of one model under one condition."""

    map50: float
    map50_95: float
    images: int
    detector_seconds: float  # inside the Detector: pre-processing, inference, NMS
    classes: list[dict] | None = None  # per-class AP (clean sim and real only)

    def metric(self, name: str) -> float:
        return getattr(self, name)

    def to_json(self) -> dict:
        data = {"map50": self.map50, "map50_95": self.map50_95, "images": self.images,
                "detector_seconds": self.detector_seconds}
        if self.classes is not None:
            data["classes"] = self.classes
        return data

    @classmethod
    def from_record(cls, record: dict) -> Score:
        return cls(map50=record["map50"], map50_95=record["map50_95"], images=record["images"],
                   detector_seconds=record["detector_seconds"], classes=record.get("classes"))


@dataclass
class ModelRobustness:
    """One model's scores: clean sim, real, and sim under each corruption and severity."""

    label: str
    weights: str
    model_id: str  # content hash of the model files and input size (what resume matches)
    backend: str
    imgsz: tuple[int, int]  # (h, w)
    sim: Score
    real: Score
    corruptions: dict[str, dict[int, Score]] = field(default_factory=dict)
    params: int | None = None
    gflops: float | None = None

    def gap(self, metric: str = "map50") -> float:
        """Accuracy lost from sim to real (positive: real is worse)."""
        return self.sim.metric(metric) - self.real.metric(metric)

    def real_retention(self, metric: str = "map50") -> float | None:
        """real / sim: the share of the sim accuracy kept on real images."""
        return ratio(self.real.metric(metric), self.sim.metric(metric))

    def corruption_mean(self, name: str, metric: str = "map50") -> float | None:
        return _mean([score.metric(metric) for severity, score in
                      sorted(self.corruptions.get(name, {}).items()) if severity > 0])

    def corruption_retention(self, name: str, metric: str = "map50") -> float | None:
        return ratio(self.corruption_mean(name, metric), self.sim.metric(metric))

    def suite_mean(self, metric: str = "map50") -> float | None:
        """mPC: mean corrupted mAP over every corruption and severity (0 excluded)."""
        return _mean([score.metric(metric) for by_severity in self.corruptions.values()
                      for severity, score in by_severity.items() if severity > 0])

    def suite_retention(self, metric: str = "map50") -> float | None:
        """rPC: mPC relative to the clean sim mAP."""
        return ratio(self.suite_mean(metric), self.sim.metric(metric))

    def weakest_corruption(self, metric: str = "map50") -> str | None:
        """The corruption that keeps the least of the clean accuracy."""
        kept = {name: self.corruption_mean(name, metric) for name in self.corruptions}
        kept = {name: value for name, value in kept.items() if value is not None}
        return min(kept, key=kept.__getitem__) if kept else None

    def describe(self) -> str:
        """One line for a summary: sim and real mAP@0.5, what real and the suite keep."""
        line = (f"mAP@0.5 sim {self.sim.map50:.3f}, real {self.real.map50:.3f} "
                f"(real/sim {_percent(self.real_retention())})")
        if self.corruptions:
            line += (f"; corrupted sim keeps {_percent(self.suite_retention())} "
                     f"(weakest: {self.weakest_corruption() or '-'})")
        return line

    def to_json(self) -> dict:
        summary = {}
        for metric in METRICS:
            summary[metric] = {
                "sim": self.sim.metric(metric), "real": self.real.metric(metric),
                "gap": self.gap(metric), "real_retention": self.real_retention(metric),
                "suite_mean": self.suite_mean(metric),
                "suite_retention": self.suite_retention(metric)}
        return {
            "label": self.label, "weights": self.weights, "model_id": self.model_id,
            "backend": self.backend, "imgsz": list(self.imgsz), "params": self.params,
            "gflops": self.gflops, "summary": summary,
            "sim": self.sim.to_json(), "real": self.real.to_json(),
            "corruptions": {
                name: {"severities": {str(s): score.to_json() for s, score in
                                      sorted(by_severity.items())},
                       **{f"mean_{m}": self.corruption_mean(name, m) for m in METRICS},
                       **{f"retention_{m}": self.corruption_retention(name, m)
                          for m in METRICS}}
                for name, by_severity in self.corruptions.items()},
        }


@dataclass
class Sim2RealResult:
    """Every model's robustness, the settings they were measured with, and the files written."""

    out: Path
    models: list[ModelRobustness]
    corruptions: list[str]
    severities: list[int]
    settings: dict
    datasets: dict  # "sim"/"real": source, split, images, instances, names
    computed: int = 0  # (model, condition) evaluations run by this call
    reused: int = 0  # finished by an earlier run in the same folder
    seconds: float = 0.0
    image_reading: str = ""  # how images were read (memory cache or streamed per model)
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def model(self, label: str) -> ModelRobustness:
        for model in self.models:
            if model.label == label:
                return model
        raise KeyError(label)

    def to_json(self) -> dict:
        return {
            "settings": self.settings, "datasets": self.datasets,
            "corruptions": self.corruptions, "severities": self.severities,
            "image_reading": self.image_reading, "notes": self.notes,
            "computed": self.computed, "reused": self.reused, "seconds": self.seconds,
            "models": [model.to_json() for model in self.models],
        }
