"""The latency model of a base on a device: built from the device's own measurements (a unit
table of the base's layers, whole networks to calibrate it), answering any pruned variant with
a prediction and an interval, refusing anything it was not built for, stored beside the
latency cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeprune.latency import LatencyCache, LatencyMeter, create_backend
from edgeprune.latency.archhash import cfg_arch_hash
from edgeprune.latency.latency_model import (
    PRIOR_WIDTH,
    LatencyModel,
    ModelKey,
    ModelMismatch,
)
from edgeprune.latency.model_store import ModelStore
from edgeprune.latency.units import measure_unit_table
from edgeprune.models import create
from edgeprune.prune.apply import plan_pruning
from edgeprune.prune.space import prune_space
from edgeprune.prune.spec import PruneSpec

IMGSZ = (64, 64)
KEY = ModelKey("cpu-x", "ort-cpu 1.0", (1, 3, 64, 64), "fp32", "base-hash", "alone")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A tiny base, its unit table and 14 of its pruned variants, all measured on this CPU
    (one thread) as ratios to the base."""
    from edgeprune.latency import Protocol
    from tests.latency.latency_helpers import FAST

    folder = tmp_path_factory.mktemp("model")
    meter = LatencyMeter(create_backend("ort-cpu", threads=1),
                         cache=LatencyCache(folder / "cache.sqlite"),
                         protocol=Protocol().with_overrides(FAST))
    base = create("yolov3", num_classes=3, width=0.125, imgsz=64).cfg
    table = measure_unit_table(meter, base, IMGSZ, round_to=4)
    shape = (1, 3, *IMGSZ)
    base_ms = meter.measure_settled(base, shape).result.median_ms
    space = prune_space(base)
    rng = np.random.default_rng(0)
    variants = []
    for _ in range(14):
        level = rng.uniform(0.3, 1.0)
        spec = PruneSpec.create(
            drop_blocks=[b.index for b in space.blocks if rng.random() < (1 - level) / 2],
            ratios={g.key: float(np.clip(rng.uniform(level - 0.2, level + 0.2), 0.25, 1))
                    for g in space.groups}, round_to=4, min_channels=4)
        cfg = plan_pruning(base, spec, space=space).cfg
        variants.append((cfg, meter.measure(cfg, shape).median_ms / base_ms))
    return base, table, variants


def build(base, table, variants) -> LatencyModel:
    model = LatencyModel.create(KEY, table, base)
    model.add(base, 1.0, cfg_arch_hash(base), refit=False)
    for cfg, ratio in variants:
        model.add(cfg, ratio, cfg_arch_hash(cfg), refit=False)
    model.refit()
    return model


def test_the_unit_table_holds_the_base_layers_as_the_runtime_runs_them(measured):
    base, table, _ = measured
    kinds = {group.split('"')[1] for group in table.entries}
    assert kinds == {"conv", "upsample"}  # a conv unit carries its folded BN and activation
    assert all(ms >= 0 for points in table.entries.values() for *_, ms in points)
    assert table.meta["per_run_ms"] > 0 and table.imgsz == IMGSZ


def test_a_model_predicts_its_own_measured_networks_within_its_interval(measured):
    base, table, variants = measured
    model = build(base, table, variants)
    assert model.calibrated_by == 15
    for cfg, ratio in variants:
        prediction = model.predict(cfg, KEY)
        assert prediction.low <= ratio <= prediction.high, (ratio, prediction)
    assert model.predict(base).ratio == pytest.approx(1.0, rel=model.width)


def test_with_few_networks_the_interval_stays_wide_and_the_weights_few(measured):
    base, table, variants = measured
    bare = LatencyModel.create(KEY, table, base)
    assert bare.width == PRIOR_WIDTH and bare.predict(base).ratio == pytest.approx(1.0)
    few = build(base, table, variants[:3])
    assert few.width == PRIOR_WIDTH and few.weights[2] == 0 and few.weights[1] == 1
    assert build(base, table, variants).weights[2] != 0  # compute joins with enough networks


def test_absurd_measurements_widen_the_interval_but_never_below_zero(measured):
    # a busy machine once timed a tiny network 20x slower than its neighbours: the model's
    # leave-one-out errors pass 100%, and the interval's low end must stay a latency
    base, table, variants = measured
    wild = [(cfg, ratio * (20.0 if number % 3 == 0 else 1.0))
            for number, (cfg, ratio) in enumerate(variants)]
    model = build(base, table, wild)
    assert model.width > 1
    for cfg, _ in wild:
        prediction = model.predict(cfg, KEY)
        assert 0 < prediction.low < prediction.ratio < prediction.high


def test_another_device_shape_or_precision_is_refused_in_one_line(measured):
    base, table, variants = measured
    model = build(base, table, variants[:4])
    for field, value, word in (("device", "jetson-orin", "device"),
                               ("input_shape", (1, 3, 96, 96), "input shape"),
                               ("precision", "fp16", "precision"),
                               ("backend", "ort-cpu 2.0", "backend")):
        other = ModelKey(**{**KEY.__dict__, field: value})
        with pytest.raises(ModelMismatch, match=f"^the latency model is for {word} ") as info:
            model.predict(base, other)
        assert "\n" not in str(info.value)


def test_a_model_round_trips_and_the_store_merges_what_searches_give_back(measured, tmp_path):
    base, table, variants = measured
    model = build(base, table, variants[:8])
    again = LatencyModel.from_json(json.loads(json.dumps(model.to_json())))
    cfg = variants[9][0]
    assert again.predict(cfg) == model.predict(cfg)
    store = ModelStore(tmp_path / "latency.sqlite")
    assert store.folder == tmp_path / "latency-models" and store.load(KEY) is None
    store.merge(model)
    other = build(base, table, variants[6:])  # 6 and 7 measured by both
    merged = store.merge(other)
    assert merged.calibrated_by == 1 + len(variants)  # the base and every network once
    assert store.load(KEY).to_json() == merged.to_json()
    assert store.load(ModelKey(**{**KEY.__dict__, "precision": "fp16"})) is None
