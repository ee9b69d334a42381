"""`tensorrt`: build an engine from ONNX with TensorRT's Python API and time it with CUDA events.

Written against TensorRT's documented API (8.6 and later: name-based I/O tensors,
`execute_async_v3`, memory-pool limits, timing caches); TensorRT and cuda-python
(`cuda-bindings`, the installable alternative to pycuda) are imported only when this backend is
created. The timing cache file is reused across builds, which cuts a search's engine builds
from minutes to seconds once common layer shapes have been timed. The last few engines stay in
memory, so the drift reference model is not rebuilt at every check.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from edgeprune.atomic import atomic_write_bytes
from edgeprune.errors import EdgepruneError
from edgeprune.latency.backends.base import (
    Backend,
    ModelRejected,
    random_input,
    register_backend,
)
from edgeprune.latency.backends.transforms import convert_fp16, quantize_int8
from edgeprune.latency.device import gpu_identity
from edgeprune.latency.protocol import Protocol, run_protocol
from edgeprune.latency.result import DeviceIdentity, LatencyResult

INSTALL_HINT = ("the tensorrt backend needs TensorRT's Python package (JetPack ships it; on x86 "
                "`pip install tensorrt`) and cuda-python (`pip install cuda-bindings`)")
KEPT_ENGINES = 2


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:
        raise EdgepruneError(f"{INSTALL_HINT}: {exc}") from None
    return tensorrt


def import_cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python before the cuda-bindings split
        except ImportError as exc:
            raise EdgepruneError(f"{INSTALL_HINT}: {exc}") from None
    return cudart


def cuda_call(cudart, result, what: str):
    """cuda-python returns (error, *values); raise on error, return the values."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        raise EdgepruneError(f"CUDA {what} failed: {error}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def default_timing_cache() -> Path:
    from edgeprune.latency.cache import default_cache_path

    return default_cache_path().parent / "tensorrt-timing.cache"


def onnx_input_name(model_bytes: bytes) -> str:
    from edgeprune.latency.archhash import load_onnx

    graph = load_onnx(model_bytes).graph
    initializers = {t.name for t in graph.initializer}
    inputs = [v.name for v in graph.input if v.name not in initializers]
    if len(inputs) != 1:
        raise ModelRejected(f"the model has {len(inputs)} inputs; latency is measured for "
                            f"single-input models")
    return inputs[0]


@register_backend
class TensorRTBackend(Backend):
    """TensorRT engines on a local NVIDIA GPU (a Jetson's included)."""

    name = "tensorrt"
    precisions = ("fp32", "fp16", "int8")
    description = "TensorRT engine built from ONNX, timed with CUDA events"

    def __init__(self, workspace_mb: int = 1024, timing_cache: str | Path | None = None,
                 device_id: int = 0) -> None:
        self.trt = import_tensorrt()
        self.cudart = import_cudart()
        self.workspace_mb = workspace_mb
        self.timing_cache = Path(timing_cache) if timing_cache else default_timing_cache()
        self.device_id = device_id
        cuda_call(self.cudart, self.cudart.cudaSetDevice(device_id), "cudaSetDevice")
        self.logger = self.trt.Logger(self.trt.Logger.WARNING)
        self._engines: OrderedDict[str, object] = OrderedDict()

    def version(self) -> str:
        return f"tensorrt {self.trt.__version__}"

    def _detect_identity(self) -> DeviceIdentity:
        props = cuda_call(self.cudart, self.cudart.cudaGetDeviceProperties(self.device_id),
                          "cudaGetDeviceProperties")
        name = props.name
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        return gpu_identity(name.rstrip("\x00"))

    # ------------------------------------------------------------------------------ build

    def _weakly_typed(self) -> bool:
        """TensorRT before strong typing took precision as builder flags."""
        return hasattr(self.trt.BuilderFlag, "FP16")

    def build_engine(self, model_bytes: bytes, input_shape: tuple[int, ...],
                     precision: str) -> bytes:
        """A serialized engine for `model_bytes` at `input_shape`; updates the timing cache."""
        trt = self.trt
        input_name = onnx_input_name(model_bytes)
        weak = self._weakly_typed()
        if precision == "int8":
            model_bytes = quantize_int8(model_bytes, input_name, input_shape, symmetric=True)
        elif precision == "fp16" and not weak:
            model_bytes = convert_fp16(model_bytes)
        builder = trt.Builder(self.logger)
        network = builder.create_network(self._network_flags(weak))
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(model_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelRejected(f"TensorRT's ONNX parser rejects the model: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_mb << 20)
        if weak and precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)  # int8 falls back to fp16, as deployed
        if weak and precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
        profile = builder.create_optimization_profile()
        profile.set_shape(input_name, input_shape, input_shape, input_shape)
        config.add_optimization_profile(profile)
        previous = self.timing_cache.read_bytes() if self.timing_cache.is_file() else b""
        timing_cache = config.create_timing_cache(previous)
        config.set_timing_cache(timing_cache, False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EdgepruneError("TensorRT could not build an engine for the model "
                                 "(its log above says why)")
        atomic_write_bytes(self.timing_cache,
                           bytes(memoryview(config.get_timing_cache().serialize())))
        return bytes(memoryview(serialized))

    def _network_flags(self, weak: bool) -> int:
        flags = self.trt.NetworkDefinitionCreationFlag
        if not weak:
            return 1 << int(flags.STRONGLY_TYPED)
        if int(self.trt.__version__.split(".")[0]) < 10:
            return 1 << int(flags.EXPLICIT_BATCH)
        return 0  # explicit batch is the only mode from TensorRT 10 on

    def _engine(self, model_bytes: bytes, input_shape: tuple[int, ...],
                precision: str) -> tuple[object, float | None]:
        key = hashlib.sha256(model_bytes + repr((input_shape, precision)).encode()).hexdigest()
        if key in self._engines:
            self._engines.move_to_end(key)
            return self._engines[key], None
        started = time.perf_counter()
        serialized = self.build_engine(model_bytes, input_shape, precision)
        build_s = time.perf_counter() - started
        engine = self.trt.Runtime(self.logger).deserialize_cuda_engine(serialized)
        if engine is None:
            raise EdgepruneError("TensorRT built an engine it cannot deserialize")
        self._engines[key] = engine
        while len(self._engines) > KEPT_ENGINES:
            self._engines.popitem(last=False)
        return engine, build_s

    # ------------------------------------------------------------------------------ time

    def _measure(self, model_bytes: bytes, input_shape: tuple[int, ...], precision: str,
                 protocol: Protocol) -> LatencyResult:
        trt, cudart = self.trt, self.cudart
        started = time.perf_counter()
        engine, build_s = self._engine(model_bytes, input_shape, precision)
        context = engine.create_execution_context()
        buffers: list[int] = []
        stream = cuda_call(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        start_event = cuda_call(cudart, cudart.cudaEventCreate(), "cudaEventCreate")
        end_event = cuda_call(cudart, cudart.cudaEventCreate(), "cudaEventCreate")
        try:
            names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
            inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
            for name in inputs:
                context.set_input_shape(name, input_shape)
            for name in names:
                shape = tuple(context.get_tensor_shape(name))
                dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
                size = max(1, int(np.prod(shape))) * dtype.itemsize
                pointer = int(cuda_call(cudart, cudart.cudaMalloc(size), "cudaMalloc"))
                buffers.append(pointer)
                context.set_tensor_address(name, pointer)
                if name in inputs:
                    host = np.ascontiguousarray(random_input(shape, dtype))
                    cuda_call(cudart, cudart.cudaMemcpy(
                        pointer, host.ctypes.data, size,
                        cudart.cudaMemcpyKind.cudaMemcpyHostToDevice), "cudaMemcpy")

            def timed_call() -> float:
                cuda_call(cudart, cudart.cudaEventRecord(start_event, stream), "cudaEventRecord")
                if not context.execute_async_v3(int(stream)):
                    raise EdgepruneError("TensorRT failed to run the engine")
                cuda_call(cudart, cudart.cudaEventRecord(end_event, stream), "cudaEventRecord")
                cuda_call(cudart, cudart.cudaEventSynchronize(end_event), "cudaEventSynchronize")
                elapsed_ms = cuda_call(cudart, cudart.cudaEventElapsedTime(start_event,
                                                                           end_event),
                                       "cudaEventElapsedTime")
                return float(elapsed_ms) / 1000.0

            timing = run_protocol(timed_call, protocol)
        finally:
            for pointer in buffers:
                cudart.cudaFree(pointer)
            cudart.cudaEventDestroy(start_event)
            cudart.cudaEventDestroy(end_event)
            cudart.cudaStreamDestroy(stream)
        return self.result(timing, input_shape, precision, started, engine_build_s=build_s)

    def close(self) -> None:
        self._engines.clear()
