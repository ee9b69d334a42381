import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency import LatencyCache, LatencyMeter, create_backend
from edgeprune.latency.meter import reference_onnx
from edgeprune.models import create


class CountingBackend:
    """Wraps the real ort-cpu backend and counts the measurements it really does."""

    def __init__(self) -> None:
        self.inner = create_backend("ort-cpu", threads=1)
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def measure(self, *args, **kwargs):
        self.calls += 1
        return self.inner.measure(*args, **kwargs)


def _meter(tmp_path, protocol, **kwargs) -> tuple[LatencyMeter, CountingBackend]:
    backend = CountingBackend()
    meter = LatencyMeter(backend, cache=LatencyCache(tmp_path / "c.sqlite"), protocol=protocol,
                         **kwargs)
    return meter, backend


def test_cache_hit_does_not_remeasure_even_with_other_weights(tmp_path, fast_protocol):
    meter, backend = _meter(tmp_path, fast_protocol)
    model = create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)
    first = meter.measure(model)
    assert not first.from_cache and backend.calls == 1
    assert first.input_shape == (1, 3, 64, 64)
    retrained = create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)  # new weights
    second = meter.measure(retrained)
    assert second.from_cache and backend.calls == 1
    assert second.median_ms == first.median_ms and second.measured_at == first.measured_at
    meter.measure(model, use_cache=False)
    assert backend.calls == 2
    bigger = meter.measure(model, (1, 3, 96, 96))
    assert backend.calls == 3 and bigger.input_shape == (1, 3, 96, 96)


def test_onnx_of_the_same_model_shares_the_cache_row(tmp_path, fast_protocol, tiny_onnx):
    meter, backend = _meter(tmp_path, fast_protocol)
    path = tmp_path / "m.onnx"
    path.write_bytes(tiny_onnx)
    assert not meter.measure(path).from_cache
    assert meter.measure(create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)).from_cache
    assert backend.calls == 1


def test_imgsz_and_batch_shape_the_default_input(tmp_path, fast_protocol, tiny_onnx):
    meter, _ = _meter(tmp_path, fast_protocol, imgsz=(96, 128), batch=2)
    model = create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)
    assert meter.measure(model).input_shape == (2, 3, 96, 128)
    with pytest.raises(EdgepruneError, match="fixed at 64x64, not 128x96"):
        meter.measure(tiny_onnx)
    meter.imgsz = None
    assert meter.measure(tiny_onnx).input_shape == (2, 3, 64, 64)  # dynamic batch axis


def test_things_that_are_not_models_are_named(tmp_path, fast_protocol):
    meter, _ = _meter(tmp_path, fast_protocol)
    with pytest.raises(EdgepruneError, match="no such ONNX file"):
        meter.measure(tmp_path / "missing.onnx")
    with pytest.raises(EdgepruneError, match="cannot measure a dict"):
        meter.measure({})


def test_drift_is_recorded_and_detected_against_the_stored_baseline(tmp_path, fast_protocol):
    protocol = fast_protocol.with_overrides({"drift_every": 2, "drift_tolerance": 0.5})
    meter, backend = _meter(tmp_path, protocol)
    first = meter.measure(create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64))
    assert backend.calls == 2  # the reference, then the model
    assert first.drift["detected"] is False and first.drift["ratio"] == 1.0
    assert first.drift["measurements_since_check"] == 0
    second = meter.measure(create("yolov3-tiny", num_classes=3, width=0.5, imgsz=64))
    assert backend.calls == 3 and second.drift["measurements_since_check"] == 1
    # A later session finds a baseline recorded when the device was 5x faster: drift.
    key = meter.cache_key("reference", (1, 3, 64, 64), "fp32")
    cache = LatencyCache(tmp_path / "other.sqlite")
    cache.set_reference_baseline(key, first.drift["reference_ms"] / 5)
    later = LatencyMeter(meter.backend, cache=cache, protocol=protocol)
    drift = later.check_drift((1, 3, 64, 64), "fp32")
    assert drift["detected"] and drift["ratio"] > 2


def test_reference_model_runs(fast_protocol):
    result = create_backend("ort-cpu", threads=1).measure(reference_onnx(), (1, 3, 64, 64),
                                                          "fp32", fast_protocol)
    assert result.median_ms > 0
