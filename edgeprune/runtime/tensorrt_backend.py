"""`tensorrt` inference runtime: a serialized engine (.engine/.plan/.trt) on a local NVIDIA GPU.

The engine's sidecar (trt/engine_file.py) gives class names and says which TensorRT version and
GPU it was built for; a mismatch is refused with a message saying how to rebuild. Buffers are
allocated once for the engine's largest batch; each call copies the batch in, runs
`execute_async_v3` on the runtime's own CUDA stream and copies the rows out (cuda-python, the
installable alternative to pycuda). Batches larger than the engine's profile run in chunks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.runtime.backends import Runtime, register_runtime
from edgeprune.trt.build import EngineError
from edgeprune.trt.engine_file import (
    ENGINE_SUFFIXES,
    check_compatible,
    check_engine_matches,
    read_sidecar,
    require_engine_file,
)


def cuda_device_index(device: str | None) -> int:
    """'cuda' / 'cuda:N' / None -> N; engines cannot run on the CPU."""
    if device is None or device in ("", "cuda"):
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise EdgepruneError(f"device {device!r}: a TensorRT engine runs on a CUDA GPU "
                         f"(device cuda or cuda:N)")


@register_runtime
class TensorRTRuntime(Runtime):
    """A TensorRT engine built by `edgeprune export --format engine` (or any single-input
    detector engine with edgeprune's output rows)."""

    name = "tensorrt"
    fixed_imgsz = True

    def __init__(self, source, *, device: str | None = None) -> None:
        from edgeprune.trt.build import (
            cuda_call,
            gpu_info,
            import_cudart,
            import_tensorrt,
        )

        path = require_engine_file(source)
        device_id = cuda_device_index(device)
        sidecar = read_sidecar(path)
        try:
            trt, cudart = import_tensorrt(), import_cudart()
        except EngineError as exc:
            raise EngineError(f"{path}: {exc}") from None
        self.trt, self.cudart, self._call = trt, cudart, cuda_call
        cuda_call(cudart, cudart.cudaSetDevice(device_id), "cudaSetDevice")
        gpu = gpu_info(cudart, device_id)
        serialized = path.read_bytes()
        if sidecar is not None:
            check_engine_matches(path, sidecar, serialized)
            check_compatible(path, sidecar, str(trt.__version__), gpu.name,
                             gpu.compute_capability)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(serialized)
        if self.engine is None:
            raise EdgepruneError(f"{path}: TensorRT {trt.__version__} cannot load this engine "
                                 f"(built with another TensorRT or for another GPU? it has no "
                                 f"sidecar to tell); rebuild it here with `edgeprune export "
                                 f"--format engine`")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EdgepruneError(f"{path}: expected one input and one output tensor, got "
                                 f"inputs {inputs} and outputs {outputs}")
        self._input, self._output = inputs[0], outputs[0]
        min_shape, _, max_shape = (tuple(s) for s in
                                   self.engine.get_tensor_profile_shape(self._input, 0))
        if len(max_shape) != 4:
            raise EdgepruneError(f"{path}: input {self._input} {max_shape} is not NCHW")
        self._min_batch, self._max_batch = int(min_shape[0]), int(max_shape[0])
        self.imgsz = (int(max_shape[2]), int(max_shape[3]))
        self._input_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self._input)))
        self._output_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(self._output)))
        self.context.set_input_shape(self._input, max_shape)
        out_shape = tuple(self.context.get_tensor_shape(self._output))
        if len(out_shape) != 3 or out_shape[2] < 6:
            raise EdgepruneError(f"{path}: output {self._output} {out_shape} is not "
                                 f"(batch, boxes, 5 + classes) detection rows")
        self.num_classes = int(out_shape[2]) - 5
        self.names = list(sidecar["names"]) if sidecar and sidecar.get("names") else None
        self.device = f"cuda:{device_id} {gpu.name}"
        self.precision = sidecar.get("precision") if sidecar else None
        self._buffers: list[int] = []
        self._stream = cuda_call(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._device_input = self._allocate(int(np.prod(max_shape)) * self._input_dtype.itemsize)
        self._device_output = self._allocate(int(np.prod(out_shape))
                                             * self._output_dtype.itemsize)
        self.context.set_tensor_address(self._input, self._device_input)
        self.context.set_tensor_address(self._output, self._device_output)

    def _allocate(self, size: int) -> int:
        pointer = int(self._call(self.cudart, self.cudart.cudaMalloc(max(1, size)),
                                 "cudaMalloc"))
        self._buffers.append(pointer)
        return pointer

    @classmethod
    def accepts(cls, source) -> bool:
        return (isinstance(source, (str, Path))
                and Path(source).suffix.lower() in ENGINE_SUFFIXES)

    def describe(self) -> str:
        precision = f" {self.precision}" if self.precision else ""
        return f"{self.name}{precision} ({self.device})"

    def run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=self._input_dtype)
        outputs = []
        for start in range(0, len(batch), self._max_batch):
            chunk = batch[start:start + self._max_batch]
            missing = max(0, self._min_batch - len(chunk))
            if missing:  # an engine built for a fixed batch: pad, trim after
                chunk = np.concatenate([chunk, np.zeros((missing, *chunk.shape[1:]),
                                                        chunk.dtype)])
            outputs.append(self._run(np.ascontiguousarray(chunk))[:len(chunk) - missing])
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        cudart, call, stream = self.cudart, self._call, self._stream
        self.context.set_input_shape(self._input, chunk.shape)
        rows = np.empty(tuple(self.context.get_tensor_shape(self._output)), self._output_dtype)
        to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        to_host = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        call(cudart, cudart.cudaMemcpyAsync(self._device_input, chunk.ctypes.data,
                                            chunk.nbytes, to_device, stream), "cudaMemcpyAsync")
        if not self.context.execute_async_v3(int(stream)):
            raise EdgepruneError("TensorRT failed to run the engine")
        call(cudart, cudart.cudaMemcpyAsync(rows.ctypes.data, self._device_output, rows.nbytes,
                                            to_host, stream), "cudaMemcpyAsync")
        call(cudart, cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        return rows

    def close(self) -> None:
        """Free the device buffers and the stream (also done when the runtime is collected)."""
        for pointer in self._buffers:
            self.cudart.cudaFree(pointer)
        self._buffers = []
        if getattr(self, "_stream", None) is not None:
            self.cudart.cudaStreamDestroy(self._stream)
            self._stream = None

    def __del__(self) -> None:
        if getattr(self, "_buffers", None):
            self.close()
