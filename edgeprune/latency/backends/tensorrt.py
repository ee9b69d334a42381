"""`tensorrt`: build an engine from ONNX with TensorRT's Python API and time it with CUDA events.

Engine building is shared with `edgeprune export --format engine` (trt/build.py: one
builder, one timing cache file reused across builds, which cuts a search's engine builds from
minutes to seconds once common layer shapes have been timed). TensorRT and cuda-python are
imported only when this backend is created. The last few engines stay in memory, so the drift
reference model is not rebuilt at every check.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError, MemoryLimitExceeded
from edgeprune.latency.backends.base import (
    Backend,
    ModelRejected,
    PreparedModel,
    register_backend,
)
from edgeprune.latency.device import gpu_identity
from edgeprune.latency.result import DeviceIdentity
from edgeprune.onnxio.precision import quantize_int8, random_input
from edgeprune.trt.build import (
    EngineBuilder,
    NetworkRejected,
    ProfileShapes,
    cuda_call,
    gpu_info,
    import_cudart,
    onnx_input_name,
)

KEPT_ENGINES = 3  # a candidate, the reference it is timed against, the drift reference

__all__ = ["TensorRTBackend", "onnx_input_name"]


@register_backend
class TensorRTBackend(Backend):
    """TensorRT engines on a local NVIDIA GPU (a Jetson's included)."""

    name = "tensorrt"
    precisions = ("fp32", "fp16", "int8")
    description = "TensorRT engine built from ONNX, timed with CUDA events"

    def __init__(self, workspace_mb: int = 1024, timing_cache: str | Path | None = None,
                 device_id: int = 0) -> None:
        self.builder = EngineBuilder(workspace_mb, timing_cache)
        self.trt = self.builder.trt
        self.cudart = import_cudart()
        self.workspace_mb = workspace_mb
        self.timing_cache = self.builder.timing_cache
        self.device_id = device_id
        cuda_call(self.cudart, self.cudart.cudaSetDevice(device_id), "cudaSetDevice")
        self.logger = self.builder.logger
        self._engines: OrderedDict[str, object] = OrderedDict()
        self.max_device_bytes: int | None = None

    def version(self) -> str:
        return f"tensorrt {self.trt.__version__}"

    def _detect_identity(self) -> DeviceIdentity:
        return gpu_identity(gpu_info(self.cudart, self.device_id).name)

    def limit_memory(self, max_bytes: int) -> None:
        """An engine whose activations need more device memory than `max_bytes` is refused
        before its execution context allocates them (on a Jetson that memory is the board's
        RAM, shared with everything else on the robot)."""
        self.max_device_bytes = max_bytes

    def build_engine(self, model_bytes: bytes, input_shape: tuple[int, ...],
                     precision: str) -> bytes:
        """A serialized engine for `model_bytes` at `input_shape`; updates the timing cache.

        int8 is measured on a QDQ graph calibrated on random images (onnxio/precision.py): the
        kernels, and so the latency, are those of a properly calibrated model.
        """
        try:
            if precision == "int8":
                model_bytes = quantize_int8(model_bytes, onnx_input_name(model_bytes),
                                            input_shape, symmetric=True)
            return self.builder.build(model_bytes, ProfileShapes.fixed(input_shape), precision)
        except NetworkRejected as exc:
            raise ModelRejected(str(exc)) from None

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

    def prepare(self, model_bytes: bytes, input_shape: tuple[int, ...],
                precision: str) -> PreparedModel:
        trt, cudart = self.trt, self.cudart
        engine, build_s = self._engine(model_bytes, input_shape, precision)
        # the context's scratch memory: TensorRT 10's name, and 8.x's (JetPack 5 and 6.0)
        needed = int(getattr(engine, "device_memory_size_v2", None) or
                     engine.device_memory_size)
        if self.max_device_bytes is not None and needed > self.max_device_bytes:
            raise MemoryLimitExceeded(f"the engine needs {needed / 2**20:.0f} MiB of device "
                                      f"memory to run, over the {self.max_device_bytes / 2**20:.0f}"
                                      f" MiB allowed")
        context = engine.create_execution_context()
        buffers: list[int] = []
        stream = cuda_call(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        start_event = cuda_call(cudart, cudart.cudaEventCreate(), "cudaEventCreate")
        end_event = cuda_call(cudart, cudart.cudaEventCreate(), "cudaEventCreate")

        def close() -> None:
            for pointer in buffers:
                cudart.cudaFree(pointer)
            cudart.cudaEventDestroy(start_event)
            cudart.cudaEventDestroy(end_event)
            cudart.cudaStreamDestroy(stream)

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
        except BaseException:
            close()
            raise

        def timed_call() -> float:
            cuda_call(cudart, cudart.cudaEventRecord(start_event, stream), "cudaEventRecord")
            if not context.execute_async_v3(int(stream)):
                raise EdgepruneError("TensorRT failed to run the engine")
            cuda_call(cudart, cudart.cudaEventRecord(end_event, stream), "cudaEventRecord")
            cuda_call(cudart, cudart.cudaEventSynchronize(end_event), "cudaEventSynchronize")
            elapsed_ms = cuda_call(cudart, cudart.cudaEventElapsedTime(start_event, end_event),
                                   "cudaEventElapsedTime")
            return float(elapsed_ms) / 1000.0

        # the context holds the engine; both live as long as the timed call does
        return PreparedModel(timed_call, close, build_s)

    def close(self) -> None:
        self._engines.clear()
