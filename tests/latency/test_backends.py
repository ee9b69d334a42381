import importlib.util

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency import ModelRejected, create_backend
from edgeprune.latency.backends import BACKENDS


def test_registry_knows_the_four_backends():
    assert {"ort-cpu", "ort-cuda", "tensorrt", "remote"} <= set(BACKENDS)
    with pytest.raises(EdgepruneError, match="unknown latency backend 'onnx-gpu'"):
        create_backend("onnx-gpu")
    with pytest.raises(EdgepruneError, match="bad options"):
        create_backend("ort-cpu", workspace_mb=5)


def test_ort_cpu_measures_a_real_model(tiny_onnx, fast_protocol):
    backend = create_backend("ort-cpu", threads=1)
    result = backend.measure(tiny_onnx, (1, 3, 64, 64), "fp32", fast_protocol)
    assert 0 < result.median_ci_ms[0] <= result.median_ms <= result.median_ci_ms[1]
    assert result.p90_ms >= result.median_ms
    assert result.runs >= fast_protocol.min_runs and result.warmup_runs >= 3
    assert result.backend == "ort-cpu" and result.backend_version.startswith("onnxruntime")
    assert result.device.kind in ("cpu", "jetson") and result.device.threads == 1
    assert result.input_shape == (1, 3, 64, 64) and result.engine_build_s is None
    # timing (warm-up and timed runs) apart from loading: every backend records it
    assert 0 < result.warmup_s < result.timing_s < result.total_s


def test_ort_cpu_timing_threads_do_not_spin_and_old_results_are_not_reused():
    """Two sessions timed interleaved in one process: a spinning idle session would keep a
    core busy (benchmarks/results/latency_spinning.md), so timing sessions sleep instead."""
    from edgeprune.latency.backends.ort import TIMING_SPINS, session_options

    assert TIMING_SPINS is False
    key = "session.intra_op.allow_spinning"
    assert session_options(2, spinning=False).get_session_config_entry(key) == "0"
    with pytest.raises(RuntimeError, match="does not have configuration"):
        session_options(2).get_session_config_entry(key)  # left to ONNX Runtime's default
    assert create_backend("ort-cpu", threads=2).cache_backend_key().endswith(", no spinning")


def test_ort_cpu_int8_measures_a_quantized_model(tiny_onnx, fast_protocol):
    result = create_backend("ort-cpu", threads=1).measure(tiny_onnx, (1, 3, 64, 64), "int8",
                                                          fast_protocol)
    assert result.precision == "int8" and result.median_ms > 0


def test_ort_cpu_refuses_fp16_with_the_reason(tiny_onnx):
    with pytest.raises(EdgepruneError, match="ort-cpu measures fp32, int8, not fp16"):
        create_backend("ort-cpu").measure(tiny_onnx, (1, 3, 64, 64), "fp16")


def test_bad_models_and_shapes_are_rejected_clearly(tiny_onnx, fast_protocol):
    backend = create_backend("ort-cpu", threads=1)
    with pytest.raises(ModelRejected, match="ONNX Runtime cannot load the model"):
        backend.measure(b"not a model", (1, 3, 64, 64), "fp32", fast_protocol)
    with pytest.raises(ModelRejected, match="rank 4"):
        backend.measure(tiny_onnx, (1, 3, 64), "fp32", fast_protocol)
    with pytest.raises(ModelRejected, match=r"fixed at \['batch', 3, 64, 64\]"):
        backend.measure(tiny_onnx, (1, 5, 64, 64), "fp32", fast_protocol)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="no onnxruntime")
def test_ort_cuda_without_a_gpu_build_says_what_to_install():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu with CUDA is installed here; the error path does not apply")
    with pytest.raises(EdgepruneError, match="ort-cuda needs onnxruntime-gpu"):
        create_backend("ort-cuda")


TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.mark.skipif(TENSORRT, reason="TensorRT is installed: the missing-package path is moot")
def test_tensorrt_missing_is_a_clear_error():
    with pytest.raises(EdgepruneError, match="pip install tensorrt"):
        create_backend("tensorrt")


@pytest.mark.skipif(not TENSORRT, reason="TensorRT is not installed in this environment (its "
                    "PyPI package downloads from NVIDIA's index); runs on a Jetson or GPU box")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_builds_times_and_reuses_its_timing_cache(tiny_onnx, fast_protocol, tmp_path,
                                                          precision):
    timing_cache = tmp_path / "timing.cache"
    backend = create_backend("tensorrt", workspace_mb=256, timing_cache=timing_cache)
    result = backend.measure(tiny_onnx, (1, 3, 64, 64), precision, fast_protocol)
    assert result.engine_build_s is not None and result.engine_build_s > 0
    assert result.timing_s > 0 and result.total_s > result.engine_build_s + result.timing_s
    assert result.median_ms > 0 and result.device.kind in ("cuda", "jetson")
    assert timing_cache.stat().st_size > 0
    again = backend.measure(tiny_onnx, (1, 3, 64, 64), precision, fast_protocol)
    assert again.engine_build_s is None  # the engine stayed in memory


def test_tensorrt_module_imports_without_tensorrt_and_reads_the_onnx_input(tiny_onnx):
    from edgeprune.latency.backends.tensorrt import onnx_input_name

    assert onnx_input_name(tiny_onnx) == "images"
    with pytest.raises(EdgepruneError, match="not a loadable ONNX model"):
        onnx_input_name(b"junk")
