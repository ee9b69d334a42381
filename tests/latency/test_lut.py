import math

import numpy as np
import onnxruntime as ort
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency import LatencyCache, LatencyMeter, LatencyPredictor, create_backend
from edgeprune.latency.lut import (
    build_predictor,
    correction_line,
    grid_queries,
    layer_queries,
    query_onnx,
)
from edgeprune.latency.variants import free_convs, random_variants, uniform_variant
from edgeprune.models import builtin_cfg
from edgeprune.models.cfg import ConvLayer
from edgeprune.models.shapes import infer_shapes


@pytest.fixture(scope="module")
def tiny_cfg():
    return builtin_cfg("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)


def test_one_layer_models_run_and_match_the_cfg_shapes(tiny_cfg):
    shapes = infer_shapes(tiny_cfg, (64, 64))
    for index, query in layer_queries(tiny_cfg, (64, 64)):
        session = ort.InferenceSession(query_onnx(query), providers=["CPUExecutionProvider"])
        height, width = query.geometry[-2:]
        image = np.zeros((1, query.in_channels, height, width), np.float32)
        output = session.run(None, {"x": image})[0]
        expected = shapes[index]
        assert output.shape == (1, expected.channels, expected.height, expected.width), index


def test_grid_keeps_image_channels_and_head_outputs_fixed(tiny_cfg):
    queries = grid_queries(tiny_cfg, (64, 64), (0.5, 1.0))
    first_layer = [q for q in queries if q.kind == "conv" and q.geometry[-2:] == (64, 64)
                   and q.in_channels == 3]
    assert sorted(q.out_channels for q in first_layer) == [2, 4]  # 4 filters at width .25
    head_outputs = {q.out_channels for q in queries if q.kind == "conv" and q.geometry[0] == 1
                    and q.geometry[4] == "linear"}
    assert head_outputs == {24}  # 3 anchors x (3 classes + 5)
    assert len(queries) == len(set(queries))


def test_variants_are_valid_and_narrower(tiny_cfg):
    half = uniform_variant(tiny_cfg, 0.5)
    assert half.layers[0].filters == 2 and half.layers[15].filters == 24  # the head stays
    free = free_convs(tiny_cfg)
    assert free and all(isinstance(tiny_cfg.layers[i], ConvLayer) for i in free)
    variants = random_variants(tiny_cfg, 3, seed=1)
    assert len({tuple(getattr(layer, "filters", 0) for layer in v.layers) for v in variants}) == 3


def test_predictor_is_built_fitted_checked_and_saved(tiny_cfg, tmp_path, fast_protocol):
    meter = LatencyMeter(create_backend("ort-cpu", threads=1),
                         cache=LatencyCache(tmp_path / "c.sqlite"), protocol=fast_protocol)
    stages = []
    report = build_predictor(tiny_cfg, meter, (64, 64), grid=(0.5, 1.0), variants=2,
                             progress=lambda stage, done, total: stages.append(stage))
    assert {"layers", "calibration", "validation"} <= set(stages)
    assert len(report.calibration) == 2 and len(report.validation) == 2
    for row in report.validation:
        assert row["measured_ms"] > 0 and row["predicted_ms"] > 0
        assert math.isfinite(row["error"])
    assert report.max_abs_error >= report.mean_abs_error >= 0
    path = report.predictor.save(tmp_path / "lut.json")
    loaded = LatencyPredictor.load(path)
    variant = random_variants(tiny_cfg, 1, seed=5)[0]
    assert loaded.predict_ms(variant) == pytest.approx(report.predictor.predict_ms(variant))
    assert loaded.meta["backend"].startswith("ort-cpu")
    # Wider layers cost more in the table: the prediction grows with width.
    assert loaded.layer_sum_ms(uniform_variant(tiny_cfg, 0.5)) < loaded.layer_sum_ms(tiny_cfg)
    other_size = builtin_cfg("yolov3-tiny", num_classes=3, width=0.25)
    loaded.imgsz = (96, 96)
    with pytest.raises(EdgepruneError, match="no conv layer of geometry"):
        loaded.predict_ms(other_size)


def test_the_correction_line_never_predicts_below_zero():
    # Noise made these two points' line fall through zero: steep, with a negative overhead.
    slope, intercept = correction_line([0.10, 0.12], [0.10, 0.17])
    assert intercept == 0 and slope == pytest.approx((0.010 + 0.0204) / (0.01 + 0.0144))
    assert slope * 0.05 + intercept > 0
    # A line that means what it says is kept as fitted.
    assert correction_line([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]) == pytest.approx((1.0, 0.5))
    # A table whose sums do not spread, or rise while latency falls, gets the ratio line.
    assert correction_line([2.0, 2.0], [3.0, 5.0]) == pytest.approx((2.0, 0.0))
    assert correction_line([1.0, 2.0], [2.0, 1.0])[1] == 0
    assert correction_line([0.0], [0.3]) == (1.0, 0.0)


def test_a_file_that_is_not_a_table_is_named(tmp_path):
    path = tmp_path / "lut.json"
    path.write_text('{"format": "something"}')
    with pytest.raises(EdgepruneError, match=r"lut\.json: not an edgeprune latency table"):
        LatencyPredictor.load(path)
