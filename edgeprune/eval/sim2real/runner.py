"""`run_sim2real`: every model on the sim split, the real split and the corrupted sim split.

How images are read (the run's memory budget decides, `cache_mb`):
- memory (the decoded sim split fits): each sim image is decoded once for the whole run and
  kept; conditions run one after another, and each condition's corrupted images are made once
  per batch and handed to every model, so the models see the very same arrays. A score is
  saved as soon as its condition finishes.
- streamed (it does not fit): models run one after another; each image is read once per model
  and every corruption and severity is applied to it before the next image is read. A model's
  scores are saved when its pass over the split finishes.
Either way the corrupted image depends only on (seed, image index, corruption, severity)
(suite.py), batches are the split's consecutive `batch_size` images, and the Detector runs
with `edgeprune val`'s settings, so every number equals `edgeprune val` on the same images.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprune.data import load_dataset
from edgeprune.data.bad_data import skipped_summary, write_problems
from edgeprune.data.corruptions import CORRUPTIONS
from edgeprune.data.dataset import DetectionDataset
from edgeprune.data.images import read_image
from edgeprune.errors import EdgepruneError
from edgeprune.eval.evaluate import MAP_CONF_THRESHOLD, MAP_IOU_THRESHOLD, Evaluator, subset
from edgeprune.eval.sim2real.result import ModelRobustness, Score, Sim2RealResult
from edgeprune.eval.sim2real.store import ResultStore
from edgeprune.eval.sim2real.suite import (
    REAL,
    SIM,
    Condition,
    condition_image,
    parse_corruptions,
    parse_severities,
    suite_conditions,
)
from edgeprune.runtime.detector import Detector

DEFAULT_CACHE_MB = 4096
MAX_DETECTIONS = 300

# progress(images just done, images in the whole run, what is running now)
ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ModelSource:
    """A model to evaluate: its label in tables and plots, its file, its Darknet .cfg if any."""

    label: str
    weights: Path
    cfg: Path | None = None


def model_sources(models: Sequence[str | Path | ModelSource] | Mapping[str, str | Path],
                  ) -> list[ModelSource]:
    """Labelled model sources; labels default to the file stem, made unique with the parent
    folder (runs/train/a/best.pt and runs/train/b/best.pt become a/best and b/best)."""
    if not models:
        raise EdgepruneError("no model given: pass at least one --weights")
    if isinstance(models, Mapping):
        return [ModelSource(str(label), Path(path)) for label, path in models.items()]
    given = [m if isinstance(m, ModelSource) else ModelSource("", Path(m)) for m in models]
    labels = [m.label or m.weights.stem for m in given]
    clashing = {label for label in labels if labels.count(label) > 1}
    labels = [f"{m.weights.parent.name}/{label}"
              if label in clashing and not m.label and m.weights.parent.name else label
              for m, label in zip(given, labels, strict=True)]
    unique = [label if labels.count(label) == 1 else f"{label}#{labels[:i].count(label) + 1}"
              for i, label in enumerate(labels)]
    return [ModelSource(label, m.weights, m.cfg) for m, label in zip(given, unique, strict=True)]


@dataclass(eq=False)  # compared by identity: one entry per model given
class _Model:
    source: ModelSource
    detector: Detector
    model_id: str
    params: int | None
    gflops: float | None


@dataclass
class _Split:
    name: str  # sim or real
    dataset: DetectionDataset  # the evaluated samples (a fixed subset with max_images)
    indices: list[int]  # each sample's index in the whole split: what corruptions are seeded by
    evaluator: Evaluator

    def __len__(self) -> int:
        return len(self.dataset)


def run_sim2real(models: Sequence[str | Path | ModelSource] | Mapping[str, str | Path],
                 sim: str | Path, real: str | Path, corruptions: str | Sequence[str] | None = None,
                 severities: str | Sequence[int] = "1-5", imgsz=None,
                 out: str | Path = "runs/eval/sim2real", *, split: str = "val", seed: int = 0,
                 batch_size: int = 8, runtime: str = "auto", device: str | None = None,
                 max_images: int | None = None, cache_mb: float = DEFAULT_CACHE_MB,
                 progress: ProgressCallback | None = None, write_files: bool = True,
                 ) -> Sim2RealResult:
    """mAP@0.5 and mAP@0.5:0.95 of every model on the `split` of the `sim` and `real` datasets
    and on the sim split through each corruption (None = all) at each severity.

    Results go to `out` as they finish (results.partial.jsonl); calling again with the same
    `out` skips what is there. At the end `out` gets results.json, report.md and plots (unless
    `write_files` is False). `imgsz` None runs each model at its own input size.
    """
    began = time.perf_counter()
    corruption_names = parse_corruptions(corruptions)
    severity_list = parse_severities(severities)
    if seed < 0:
        raise EdgepruneError(f"seed must be 0 or more, got {seed}")
    if batch_size < 1:
        raise EdgepruneError(f"batch size must be at least 1, got {batch_size}")
    sources = model_sources(models)
    sim_full, real_full = _load(sim, split), _load(real, split)
    if sim_full.names != real_full.names:
        raise EdgepruneError(f"the sim and real splits name different classes: {sim} has "
                             f"[{', '.join(sim_full.names)}], {real} has "
                             f"[{', '.join(real_full.names)}]; both must list the same classes "
                             f"in the same order")
    splits = {name: _split(name, full, batch_size, max_images, seed)
              for name, full in (("sim", sim_full), ("real", real_full))}
    notes = [f"{full.source}: {skipped}" for full in (sim_full, real_full)
             if (skipped := skipped_summary([full]))]
    loaded = [_load_model(source, sim_full, runtime, imgsz, device, notes) for source in sources]
    _refuse_duplicates(loaded)
    settings = _settings(splits, split, seed, max_images)
    store = ResultStore(out, settings)
    listed = write_problems([sim_full, real_full], out) if write_files else None
    if listed:
        notes.append(f"every data problem is listed in {listed}")

    conditions = [REAL, SIM, *suite_conditions(corruption_names, severity_list)]
    todo = {condition: [m for m in loaded if store.get(m.model_id, condition.key) is None]
            for condition in conditions}
    runner = _Runner(splits, store, seed, batch_size, progress,
                     total=sum(len(splits[c.domain]) * len(ms) for c, ms in todo.items()))
    reading = runner.run_all(conditions, todo, loaded, cache_mb)

    result = Sim2RealResult(
        out=Path(out), models=[_robustness(m, store, corruption_names, severity_list)
                               for m in loaded],
        corruptions=corruption_names, severities=severity_list, settings=settings,
        datasets={name: _describe(split) for name, split in splits.items()},
        computed=runner.computed, reused=len(conditions) * len(loaded) - runner.computed,
        image_reading=reading, notes=notes)
    result.seconds = time.perf_counter() - began
    if write_files:
        from edgeprune.eval.sim2real.report import write_outputs

        write_outputs(result)
    return result


class _Runner:
    """Runs passes over a split and saves each (model, condition) score as it finishes."""

    def __init__(self, splits: dict[str, _Split], store: ResultStore, seed: int,
                 batch_size: int, progress: ProgressCallback | None, total: int) -> None:
        self.splits = splits
        self.store = store
        self.seed = seed
        self.batch_size = batch_size
        self.progress = progress
        self.total = total
        self.computed = 0

    def run_all(self, conditions: list[Condition], todo: dict[Condition, list[_Model]],
                models: list[_Model], cache_mb: float) -> str:
        """Every (model, condition) in `todo`; returns how images were read (for the report)."""
        sim, real = self.splits["sim"], self.splits["real"]
        sim_bytes = sum(3 * (s.width or 0) * (s.height or 0) for s in sim.dataset.samples)
        sim_conditions = conditions[1:]  # clean sim first, then the suite
        if sim_bytes <= cache_mb * 2 ** 20:
            self.run_pass(real, {REAL: todo[REAL]}, self.read)
            cache: dict[int, np.ndarray] = {}
            for condition in sim_conditions:
                self.run_pass(sim, {condition: todo[condition]},
                              lambda split, position: self.read_cached(split, position, cache))
            return (f"memory: the {len(sim)} sim images were decoded once "
                    f"({sim_bytes / 2 ** 20:.0f} MB) and kept for the run; each condition's "
                    f"corrupted images were made once and given to every model")
        for model in models:
            self.run_pass(real, {REAL: [model] if model in todo[REAL] else []}, self.read)
            self.run_pass(sim, {c: [model] for c in sim_conditions if model in todo[c]}, self.read)
        return (f"streamed: the decoded sim split ({sim_bytes / 2 ** 20:.0f} MB) is over the "
                f"{cache_mb:.0f} MB cache budget, so each image was read once per model and "
                f"every corruption and severity applied to it before the next")

    @staticmethod
    def read(split: _Split, position: int) -> np.ndarray:
        return read_image(split.dataset.samples[position].image_path)

    def read_cached(self, split: _Split, position: int, cache: dict[int, np.ndarray],
                    ) -> np.ndarray:
        if position not in cache:
            cache[position] = self.read(split, position)
        return cache[position]

    def run_pass(self, split: _Split, plan: dict[Condition, list[_Model]],
                 read: Callable[[_Split, int], np.ndarray]) -> None:
        """One pass over `split`: each batch read once, shown to each model under each of its
        conditions; then every (model, condition) of the plan is scored and saved."""
        plan = {condition: models for condition, models in plan.items() if models}
        if not plan:
            return
        found = {(condition, id(m)): [] for condition, models in plan.items() for m in models}
        seconds = dict.fromkeys(found, 0.0)
        for start in range(0, len(split), self.batch_size):
            positions = range(start, min(start + self.batch_size, len(split)))
            images = [read(split, position) for position in positions]
            for condition, models in plan.items():
                shown = [condition_image(image, split.indices[position], condition, self.seed)
                         for image, position in zip(images, positions, strict=True)]
                for model in models:
                    clock = time.perf_counter()
                    found[(condition, id(model))].extend(model.detector(shown))
                    seconds[(condition, id(model))] += time.perf_counter() - clock
                    if self.progress is not None:
                        self.progress(len(shown), self.total,
                                      f"{model.source.label}: {condition.describe()}")
        for condition, models in plan.items():
            for model in models:
                self._save(split, condition, model, found[(condition, id(model))],
                           seconds[(condition, id(model))])

    def _save(self, split: _Split, condition: Condition, model: _Model, detections: list,
              detector_seconds: float) -> None:
        map50, map50_95, classes = split.evaluator.score(detections)
        record = {"model_id": model.model_id, "label": model.source.label,
                  "weights": str(model.source.weights), "condition": condition.key,
                  "domain": condition.domain, "corruption": condition.corruption,
                  "severity": condition.severity, "map50": map50, "map50_95": map50_95,
                  "images": len(split), "detector_seconds": round(detector_seconds, 4)}
        if condition.corruption is None:
            record["classes"] = [{"name": c.name, "instances": c.instances, "ap50": c.ap50,
                                  "ap50_95": c.ap50_95} for c in classes]
        self.store.add(record)
        self.computed += 1


def _load(data: str | Path, split: str) -> DetectionDataset:
    return load_dataset(data, split).require_usable()


def _split(name: str, full: DetectionDataset, batch_size: int, max_images: int | None,
           seed: int) -> _Split:
    dataset = subset(full, max_images, seed) if max_images is not None else full
    position = {id(sample): index for index, sample in enumerate(full.samples)}
    indices = [position[id(sample)] for sample in dataset.samples]
    return _Split(name, dataset, indices, Evaluator(dataset, batch_size=batch_size,
                                                    max_detections=MAX_DETECTIONS))


def _image_list_hash(dataset: DetectionDataset) -> str:
    digest = hashlib.sha256()
    for sample in dataset.samples:
        digest.update(str(Path(sample.image_path).resolve()).encode() + b"\n")
    return digest.hexdigest()[:16]


def _settings(splits: dict[str, _Split], split: str, seed: int,
              max_images: int | None) -> dict:
    """What must not change between a run and its resumption (the images by their resolved
    paths, not the YAML's path as typed, so a run resumes from another folder)."""
    return {
        **{name: {"split": split, "images": len(s),
                  "image_list_sha256": _image_list_hash(s.dataset), "names": s.dataset.names}
           for name, s in splits.items()},
        "seed": seed, "max_images": max_images, "conf_threshold": MAP_CONF_THRESHOLD,
        "iou_threshold": MAP_IOU_THRESHOLD, "multi_label": True,
        "max_detections": MAX_DETECTIONS,
        "corruption_levels": {name: list(CORRUPTIONS.get(name).levels)
                              for name in CORRUPTIONS.names()},
    }


def _file_hash(paths: list[Path], extra: str) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    digest.update(extra.encode())
    return digest.hexdigest()[:16]


def _load_model(source: ModelSource, data: DetectionDataset, runtime: str, imgsz,
                device: str | None, notes: list[str]) -> _Model:
    for path in (source.weights, source.cfg):
        if path is not None and not path.is_file():
            raise EdgepruneError(f"{path}: model file not found")
    detector = Detector(source.weights, runtime=runtime, imgsz=imgsz, device=device,
                        cfg=source.cfg, conf_threshold=MAP_CONF_THRESHOLD,
                        iou_threshold=MAP_IOU_THRESHOLD, max_detections=MAX_DETECTIONS,
                        multi_label=True)
    if len(detector.names) != len(data.names):
        raise EdgepruneError(f"{source.weights}: the model has {len(detector.names)} classes, "
                             f"{data.source} has {len(data.names)} "
                             f"({', '.join(data.names)})")
    if detector.names != data.names and detector.runtime.names is not None:
        notes.append(f"{source.label}: the model's class names "
                     f"({', '.join(detector.names)}) differ from the data's; classes were "
                     f"matched by index")
    detector.names = list(data.names)
    files = [source.weights] + ([source.cfg] if source.cfg is not None else [])
    model_id = _file_hash(files, f"|{detector.imgsz[0]}x{detector.imgsz[1]}")
    params, gflops = _model_size(detector)
    return _Model(source, detector, model_id, params, gflops)


def _model_size(detector: Detector) -> tuple[int | None, float | None]:
    """Parameters and GFLOPs from the model's cfg (torch models, edgeprune ONNX files)."""
    from edgeprune.models.counting import count_gflops, count_params

    cfg = None
    model = getattr(detector.runtime, "model", None)
    if model is not None and hasattr(model, "cfg"):
        cfg = model.cfg
    elif hasattr(detector.runtime, "session"):
        from edgeprune.models.cfg import parse_cfg
        from edgeprune.onnxio.serialize import META_CFG

        text = detector.runtime.session.get_modelmeta().custom_metadata_map.get(META_CFG)
        cfg = parse_cfg(text, "ONNX metadata") if text else None
    if cfg is None:
        return None, None
    return count_params(cfg), count_gflops(cfg, detector.imgsz)


def _refuse_duplicates(loaded: list[_Model]) -> None:
    seen: dict[str, str] = {}
    for model in loaded:
        if model.model_id in seen:
            raise EdgepruneError(f"{model.source.weights} is the same model as "
                                 f"{seen[model.model_id]} (same file contents and input size); "
                                 f"give each model once")
        seen[model.model_id] = str(model.source.weights)


def _robustness(model: _Model, store: ResultStore, corruption_names: list[str],
                severities: list[int]) -> ModelRobustness:
    def score(condition: Condition) -> Score:
        return Score.from_record(store.get(model.model_id, condition.key))

    return ModelRobustness(
        label=model.source.label, weights=str(model.source.weights), model_id=model.model_id,
        backend=model.detector.runtime.describe(), imgsz=model.detector.imgsz,
        sim=score(SIM), real=score(REAL),
        corruptions={name: {s: score(Condition("sim", name, s)) for s in severities}
                     for name in corruption_names},
        params=model.params, gflops=model.gflops)


def _describe(split: _Split) -> dict:
    dataset = split.dataset
    return {"source": dataset.source, "split": dataset.split, "images": len(dataset),
            "instances": int(split.evaluator.instances.sum()), "names": list(dataset.names),
            "problems": len(dataset.problems)}

