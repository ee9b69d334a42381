import json

import onnx
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency.archhash import cfg_arch_hash, onnx_arch_hash
from edgeprune.latency.result import DeviceIdentity, LatencyResult
from edgeprune.models import builtin_cfg, create
from edgeprune.models.cfg import parse_cfg
from edgeprune.models.cfg_writer import write_cfg_text
from edgeprune.onnxio.serialize import onnx_bytes


def _result(**changes) -> LatencyResult:
    values = dict(median_ms=1.5, p90_ms=1.9, mean_ms=1.6, std_ms=0.1, cv=0.0625, runs=40,
                  warmup_runs=10, warmup_s=0.5, input_shape=(1, 3, 64, 64), precision="fp16",
                  backend="tensorrt", backend_version="tensorrt 10.3.0",
                  device=DeviceIdentity(kind="jetson", name="Orin", machine="aarch64",
                                        board="NVIDIA Jetson Orin Nano", power_mode="15W"),
                  median_ci_ms=(1.45, 1.55), remeasures=1, engine_build_s=42.0,
                  drift={"ratio": 1.02, "detected": False}, measured_at="2026-01-01T00:00:00")
    values.update(changes)
    return LatencyResult(**values)


def test_result_round_trips_through_json():
    result = _result()
    again = LatencyResult.loads(json.dumps(result.to_json()))
    assert again == result
    assert again.device.power_mode == "15W" and again.input_shape == (1, 3, 64, 64)
    assert again.relative_ci == pytest.approx(0.05 / 1.5)


def test_result_from_a_newer_agent_ignores_unknown_fields_but_not_missing_ones():
    data = _result().to_json()
    data["something_new"] = 1
    assert LatencyResult.from_json(data).median_ms == 1.5
    del data["median_ms"]
    with pytest.raises(EdgepruneError, match="malformed"):
        LatencyResult.from_json(data)
    with pytest.raises(EdgepruneError, match="not JSON"):
        LatencyResult.loads("{")


def test_a_result_recorded_before_timing_seconds_were_still_loads():
    data = _result(timing_s=3.5).to_json()
    assert LatencyResult.from_json(data).timing_s == 3.5
    del data["timing_s"]
    old = LatencyResult.from_json(data)
    assert old.timing_s is None and old.engine_build_s == 42.0


def test_device_identity_key_distinguishes_power_modes():
    a = DeviceIdentity(kind="jetson", name="Xavier", power_mode="MODE_15W_6CORE")
    b = DeviceIdentity(kind="jetson", name="Xavier", power_mode="MODE_20W_6CORE")
    assert a.key() != b.key()
    assert "MODE_15W_6CORE" in a.describe()


def test_cfg_hash_ignores_weights_extras_and_anchor_values():
    cfg = builtin_cfg("yolov3-tiny", num_classes=3, width=0.25)
    text = write_cfg_text(cfg)
    edited = (text.replace("jitter=.3", "jitter=.1")
              .replace("anchors=10,14", "anchors=11,15").replace("batch=64", "batch=1"))
    assert edited != text
    assert cfg_arch_hash(parse_cfg(edited)) == cfg_arch_hash(cfg)
    narrower = builtin_cfg("yolov3-tiny", num_classes=3, width=0.125)
    assert cfg_arch_hash(narrower) != cfg_arch_hash(cfg)


def test_onnx_with_embedded_cfg_hashes_like_its_cfg(tiny_onnx):
    cfg = builtin_cfg("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)
    assert onnx_arch_hash(tiny_onnx) == cfg_arch_hash(cfg)


def _strip_metadata(data: bytes) -> onnx.ModelProto:
    proto = onnx.load_from_string(data)
    del proto.metadata_props[:]
    return proto


def test_foreign_onnx_hash_ignores_weight_values_and_tensor_names():
    first = create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)
    second = create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64)  # other random weights
    a = _strip_metadata(onnx_bytes(first, (64, 64)))
    b = _strip_metadata(onnx_bytes(second, (64, 64)))
    assert a.graph.initializer[0].raw_data != b.graph.initializer[0].raw_data
    assert onnx_arch_hash(a).startswith("onnx:")
    assert onnx_arch_hash(a) == onnx_arch_hash(b)
    renamed = onnx.ModelProto()
    renamed.CopyFrom(b)
    mapping = {t.name: f"w{i}" for i, t in enumerate(renamed.graph.initializer)}
    for tensor in renamed.graph.initializer:
        tensor.name = mapping[tensor.name]
    for node in renamed.graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
    assert onnx_arch_hash(renamed) == onnx_arch_hash(a)
    wider = _strip_metadata(onnx_bytes(create("yolov3-tiny", num_classes=3, width=0.5,
                                              imgsz=64), (64, 64)))
    assert onnx_arch_hash(wider) != onnx_arch_hash(a)


def test_garbage_is_not_an_onnx_model():
    with pytest.raises(EdgepruneError, match="not a loadable ONNX model"):
        onnx_arch_hash(b"\x00garbage", "upload.onnx")
