"""Measurement where it decides: which candidates a search measures on the device and which
it scores by the device's latency model.

With `--latency-mode model` a candidate whose network is not in the latency cache is measured
when the measurement could change a decision, and scored by the model's prediction otherwise:

1. its interval straddles the target (feasible or not is the model's guess);
2. it could become the best: its reward at the optimistic end of the interval beats the best
   measured one (among those meeting the target, when any does);
3. it could enter the Pareto front: no measured candidate is both as fast as the interval's
   optimistic end and as accurate (unless `--no-measure-front`: the front serves the report,
   not the best);
4. an audit: a fixed share of the rest, drawn from the seed and the step, so the model is
   checked where it is trusted.

Decisions for a round use only what was recorded before it (its measurements refit the model
afterwards), so they do not depend on how many workers ran it, and a resumed search makes the
same ones. Every latency a search reports as a result (best, front, summary) is therefore a
device measurement; a predicted candidate is a step the agent learned from.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.cache_paths import default_cache_path
from edgeprune.errors import EdgepruneError
from edgeprune.latency.archhash import cfg_arch_hash
from edgeprune.latency.latency_model import LatencyModel, ModelKey
from edgeprune.latency.model_store import ModelStore
from edgeprune.latency.result import LatencyResult
from edgeprune.latency.units import measure_unit_table
from edgeprune.search.candidate import Candidate
from edgeprune.search.reward import RewardConfig, meets_target, reward
from edgeprune.search.scoring import relative_ms

LATENCY_MODES = ("model", "measure")
AUDIT_RATE = 0.05


@dataclass(frozen=True)
class Decision:
    """What a candidate not in the cache gets: a measurement (`reason` says why) or the
    prediction (`reason` None)."""

    reason: str | None
    ms: float  # the predicted latency (ratio x the base's) and its interval
    low_ms: float
    high_ms: float

    @property
    def measure(self) -> bool:
        return self.reason is not None


# decide(cfg, accuracy) -> Decision: for a candidate whose network is not in the cache
Decide = Callable[[object, float], Decision]


def audit_draw(seed: int, step: int) -> float:
    """A uniform number in [0, 1) fixed by the seed and the step (no generator state, so a
    resumed search draws the same)."""
    digest = hashlib.sha256(f"audit:{seed}:{step}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def measure_reason(step: int, accuracy: float, low_ms: float, high_ms: float,
                   target_ms: float, config: RewardConfig, measured: list[Candidate],
                   seed: int, audit_rate: float = AUDIT_RATE,
                   measure_front: bool = True) -> str | None:
    """Why a candidate with this accuracy and predicted interval must be measured, given the
    candidates measured before its round; None when the prediction decides nothing."""
    limit = target_ms * (1 + config.tolerance)
    if low_ms <= limit < high_ms:
        return "its interval straddles the target"
    feasible = [r for r in measured if r.feasible]
    pool = feasible or measured
    can_meet = meets_target(low_ms, target_ms, config)
    optimistic = reward(accuracy, low_ms, target_ms, config)
    if not pool or ((can_meet or not feasible) and optimistic > max(r.reward for r in pool)):
        return "it could become the best"
    if measure_front and not any(r.latency_ms <= low_ms and r.accuracy >= accuracy
                                 for r in measured):
        return "it could enter the Pareto front"
    if audit_draw(seed, step) < audit_rate:
        return "audit"
    return None


class LatencyDecider:
    """The search's side of the latency model: it opens the model (from the store beside the
    latency cache, else built from the base's units measured now), keeps the run's snapshot of
    it (`latency_model.json`: what a resumed search starts from, whatever the store has learnt
    since), fits it before each round on the snapshot and the run's measurements so far,
    decides, and gives what the run measured back to the store at the end."""

    def __init__(self, model: LatencyModel, base_ms: float, settings, run_dir: Path) -> None:
        self.snapshot = model
        self.model = model
        self.base_ms = base_ms
        self.settings = settings
        self.run_dir = Path(run_dir)
        self._features: dict[str, list[float]] = {}
        self.fitted_before: int | None = None

    # ---------------------------------------------------------------------------- opening

    @classmethod
    def open(cls, settings, run_dir: Path, meter, env, measured_base,
             status) -> LatencyDecider:
        """The run's snapshot when it has one (a resumed search), else the store's model for
        this device and base (or a new one, its units measured now) with the base and the
        most-pruned network added, saved as the snapshot."""
        path = Path(run_dir) / MODEL_FILE
        key = model_key(settings, meter, env)
        if path.is_file():
            model = LatencyModel.from_json(_read_json(path), str(path))
            if problem := model.key.mismatch(key):
                raise EdgepruneError(f"{path}: {problem}")
            return cls(model, measured_base.latency_ms, settings, run_dir)
        store = store_for(settings)
        model = store.load(key)
        if model is None:
            began = time.perf_counter()
            with status(f"measuring the base's layer units on {meter.describe()} (once per "
                        f"device and base; kept in {store.folder})..."):
                table = measure_unit_table(meter, env.base.model.cfg, tuple(env.imgsz),
                                           settings.round_to)
            table.meta["seconds"] = time.perf_counter() - began  # device time, for reports
            model = LatencyModel.create(key, table, env.base.model.cfg)
        base_cfg = env.base.model.cfg
        model.add(base_cfg, 1.0, cfg_arch_hash(base_cfg), refit=False)
        fastest = env.pruned_cfg(env.fastest_spec(settings.min_ratio, settings.round_to,
                                                  settings.min_channels))
        fastest_ms = relative_ms(LatencyResult.from_json(measured_base.fastest_latency),
                                 measured_base.latency_ms)
        model.add(fastest, fastest_ms / measured_base.latency_ms, cfg_arch_hash(fastest))
        atomic_write_text(path, json.dumps(model.to_json()))
        return cls(model, measured_base.latency_ms, settings, run_dir)

    # ---------------------------------------------------------------------------- deciding

    def fit_before(self, first_step: int, records: list[Candidate], plan) -> None:
        """The model as it stood before step `first_step`: the snapshot and every candidate
        of this run measured before it (`plan(spec)` gives a record's architecture)."""
        if self.fitted_before == first_step:
            return
        model = LatencyModel.from_json(self.snapshot.to_json())
        seen = {point[2] for point in model.points}
        for record in records[:first_step]:
            if record.latency_predicted or record.arch_hash in seen:
                continue
            seen.add(record.arch_hash)
            features = self._features.get(record.arch_hash)
            if features is None:
                features = model.features(plan(record.spec).cfg).tolist()
                self._features[record.arch_hash] = features
            model.points.append((features, record.latency_ms / self.base_ms, record.arch_hash))
        model.refit()
        self.model, self.fitted_before = model, first_step

    def decide(self, step: int, cfg, accuracy: float, measured: list[Candidate],
               target_ms: float) -> Decision:
        prediction = self.model.predict(cfg)
        ms, low, high = prediction.ms(self.base_ms)
        reason = measure_reason(step, accuracy, low, high, target_ms, self.settings.reward,
                                measured, self.settings.seed, self.settings.audit_rate,
                                self.settings.measure_front)
        return Decision(reason, ms, low, high)

    # ---------------------------------------------------------------------------- giving back

    def give_back(self, records: list[Candidate], plan, store: ModelStore) -> None:
        """The run's measurements added to the store's model (merged with what other searches
        put there meanwhile), for the next search on this device and base."""
        self.fit_before(len(records), records, plan)
        store.merge(self.model)


MODEL_FILE = "latency_model.json"


def model_key(settings, meter, env) -> ModelKey:
    backend = meter.backend
    return ModelKey(device=backend.identity().key(), backend=backend.cache_backend_key(),
                    input_shape=tuple(env.input_shape), precision=meter.precision,
                    base=cfg_arch_hash(env.base.model.cfg),
                    timing="interleaved" if settings.interleave else "alone")


def store_for(settings) -> ModelStore:
    """Where latency models live: beside the search's latency cache when it is shared
    (--latency-cache), else beside the user's default cache, so the next search on this
    device and base finds the model whatever run folder it writes to."""
    return ModelStore(settings.latency_cache or default_cache_path())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgepruneError(f"{path}: unreadable ({exc})") from None
