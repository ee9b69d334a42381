"""The search environment: a PruneSpec in; accuracy proxy, measured latency, GFLOPs and
parameters out.

It owns the base checkpoint, the latency meter of the target device, the accuracy proxy with
its fixed training batches, and an evaluator on a fixed validation subset (images decoded once
and kept). Latency is measured on the pruned cfg alone (a measurement never needs weights), so
the meter's cache answers for any architecture measured before, by this search or another.

Its two halves also work apart, which is how a search on a cluster spreads them: `accuracy`
(a Ray worker holds an environment without a meter) and `measure_latency` (a device actor
measures the pruned cfg); `result` puts the halves together.
"""

from __future__ import annotations

import time

from edgeprune.data.dataset import DetectionDataset
from edgeprune.errors import EdgepruneError
from edgeprune.eval.evaluate import Evaluator, subset
from edgeprune.latency.archhash import cfg_arch_hash
from edgeprune.latency.meter import LatencyMeter
from edgeprune.latency.result import LatencyResult
from edgeprune.models.cfg import DarknetCfg
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.models.counting import count_gflops, count_params
from edgeprune.models.darknet import DarknetModel
from edgeprune.prune.apply import PrunePlan, plan_pruning
from edgeprune.prune.importance import get_importance
from edgeprune.prune.space import prune_space
from edgeprune.prune.spec import PruneSpec
from edgeprune.runtime.backends import TorchRuntime
from edgeprune.runtime.detector import Detector
from edgeprune.search.candidate import Candidate
from edgeprune.search.measuring import Decide, Decision
from edgeprune.search.proxy import ProxySettings, create_proxy
from edgeprune.search.robust import RobustScorer, RobustSettings


def load_search_data(data: str, bad_data: str) -> tuple[DetectionDataset, DetectionDataset]:
    """The train and val splits of dataset `data`; with `bad_data` stop, an error naming the
    problems that would leave data out."""
    from edgeprune.data import load_dataset
    from edgeprune.data.bad_data import refuse_bad_data

    splits = (load_dataset(data, "train").require_usable(),
              load_dataset(data, "val").require_usable())
    refuse_bad_data(splits, bad_data)
    return splits


class SearchEnvironment:
    def __init__(self, base: Checkpoint, meter: LatencyMeter | None,
                 train_data: DetectionDataset,
                 val_data: DetectionDataset, *, imgsz: tuple[int, int], proxy: str = "bn-recal",
                 proxy_settings: ProxySettings | None = None, val_images: int | None = 100,
                 importance: str = "l1", seed: int = 0, base_name: str = "the base",
                 robust: RobustSettings | None = None) -> None:
        if len(train_data.names) != len(base.names):
            raise EdgepruneError(f"the base model has {len(base.names)} classes "
                                 f"({', '.join(base.names)}); the dataset {train_data.source} "
                                 f"has {len(train_data.names)} "
                                 f"({', '.join(train_data.names)})")
        self.base = base
        self.meter = meter
        self.imgsz = imgsz
        self.space = prune_space(base.model.cfg)
        self.importance = get_importance(importance)
        self.proxy = create_proxy(proxy, proxy_settings or ProxySettings(seed=seed),
                                  train_data.require_usable(), imgsz, base, base_name)
        val_data = val_data.require_usable()
        self.val_data = subset(val_data, val_images, seed) if val_images else val_data
        self.evaluator = Evaluator(self.val_data, batch_size=8, cache_images=True)
        # the corrupted and real subsets every candidate is also scored on (search/robust.py)
        self.robust = RobustScorer(robust, val_data, seed) if robust else None
        batch = meter.batch if meter is not None else 1  # no meter: accuracy only
        self.input_shape = (batch, base.model.input_channels, *imgsz)
        self.base.model.eval()

    # ---------------------------------------------------------------------------- architecture

    def plan(self, spec: PruneSpec) -> PrunePlan:
        """The architecture plan of `spec` on the base: made once per candidate, it gives the
        architecture hash, the cfg whose latency is measured and the pruned model's layout."""
        return plan_pruning(self.base.model.cfg, spec, space=self.space)

    def pruned_cfg(self, spec: PruneSpec) -> DarknetCfg:
        return self.plan(spec).cfg

    def fastest_spec(self, min_ratio: float, round_to: int, min_channels: int) -> PruneSpec:
        """The most-pruned network the search may produce: every block dropped, every channel
        set at the lowest keep ratio."""
        return PruneSpec.create(drop_blocks=[b.index for b in self.space.blocks],
                                default_ratio=min_ratio, round_to=round_to,
                                min_channels=min_channels)

    # ---------------------------------------------------------------------------- measuring

    def measure_latency(self, spec: PruneSpec) -> LatencyResult:
        return self.meter.measure(self.pruned_cfg(spec), self.input_shape)

    def scores(self, model: DarknetModel) -> dict[str, float]:
        """mAP@0.5 of `model` on the fixed validation subset ("clean") and, with a robust
        accuracy, on its corrupted and real subsets."""
        detector = Detector(TorchRuntime(model), imgsz=self.imgsz, names=list(self.base.names))
        parts = {"clean": float(self.evaluator(detector).map50)}
        if self.robust is not None:
            parts.update(self.robust.scores(detector))
        return parts

    def combine(self, parts: dict[str, float]) -> float:
        """The accuracy the reward sees: the clean mAP@0.5, or the robust combination."""
        return self.robust.settings.combine(parts) if self.robust else parts["clean"]

    def score(self, model: DarknetModel) -> float:
        """The rewarded accuracy of `model` (mAP@0.5 on the fixed validation subset, combined
        with the robust parts when the search has them)."""
        return self.combine(self.scores(model))

    def base_accuracy(self) -> float:
        return self.score(self.base.model)

    def pruned_model(self, spec: PruneSpec, plan: PrunePlan | None = None) -> DarknetModel:
        """The candidate network of `spec` (the base pruned, or the weight-sharing network's
        sub-network) repaired by the accuracy proxy, in eval mode (`plan`: its architecture
        plan, when made already)."""
        model = self.proxy.build(spec, self.importance, plan)
        self.proxy.prepare(model)
        return model.eval()

    def accuracy_scores(self, spec: PruneSpec, plan: PrunePlan | None = None
                        ) -> dict[str, float]:
        """The accuracy proxy's scores of `spec`, part by part (`scores`)."""
        return self.scores(self.pruned_model(spec, plan))

    def accuracy(self, spec: PruneSpec, plan: PrunePlan | None = None) -> float:
        """The accuracy proxy's rewarded score of `spec`."""
        return self.combine(self.accuracy_scores(spec, plan))

    def evaluate(self, spec: PruneSpec, known_accuracy: float | None = None,
                 plan: PrunePlan | None = None, decide: Decide | None = None,
                 known_parts: dict | None = None) -> Candidate:
        """The candidate of `spec`: its accuracy (unless known) and its latency, measured or,
        with `decide` (the latency model's decision for a network not in the cache, given its
        cfg and accuracy), scored by the model's prediction. Without `decide` the latency is
        measured first (cheap when cached, and kept in the cache if the process dies during
        the accuracy proxy). `plan`: the spec's architecture plan, made once by the caller."""
        plan = plan or self.plan(spec)
        cfg = plan.cfg
        cached = self.meter.cached(cfg, self.input_shape) if decide is not None else None
        latency = latency_seconds = None
        if decide is None or cached is not None:
            began = time.perf_counter()
            latency = cached or self.meter.measure(cfg, self.input_shape)
            latency_seconds = time.perf_counter() - began
        accuracy, parts, accuracy_seconds = known_accuracy, known_parts, 0.0
        if accuracy is None:
            began = time.perf_counter()
            parts = self.accuracy_scores(spec, plan)
            accuracy = self.combine(parts)
            accuracy_seconds = time.perf_counter() - began
        decision = None
        if latency is None:
            decision = decide(cfg, accuracy)
            if decision.measure:
                began = time.perf_counter()
                latency = self.meter.measure(cfg, self.input_shape)
                latency_seconds = time.perf_counter() - began
        return self.result(spec, cfg, accuracy, latency, accuracy_seconds,
                           latency_seconds or 0.0, decision, parts)

    def result(self, spec: PruneSpec, cfg: DarknetCfg, accuracy: float,
               latency: LatencyResult | None, accuracy_seconds: float, latency_seconds: float,
               decision: Decision | None = None, parts: dict | None = None) -> Candidate:
        """A candidate from its two halves (its pruned cfg gives the rest): the measured
        latency, or none and the latency model's `decision` (its prediction); the search loop
        numbers it and scores it against the target (step -1 until then)."""
        prediction = None if decision is None else {
            "ms": decision.ms, "low_ms": decision.low_ms, "high_ms": decision.high_ms}
        return Candidate(spec=spec, step=-1, accuracy=accuracy,
                         latency_ms=latency.median_ms if latency else decision.ms,
                         gflops=count_gflops(cfg, self.imgsz), params=count_params(cfg),
                         arch_hash=cfg_arch_hash(cfg),
                         latency=latency.to_json() if latency else {},
                         accuracy_seconds=accuracy_seconds, latency_seconds=latency_seconds,
                         latency_predicted=latency is None, prediction=prediction,
                         measure_reason=decision.reason if decision else None,
                         accuracy_parts=parts if self.robust is not None else None)
