"""ONNX Runtime backends: `ort-cpu` (CPU provider, sequential, fixed intra-op threads) and
`ort-cuda` (CUDA provider of onnxruntime-gpu, inputs and outputs bound on the GPU).

int8 and fp16 models are made from the float32 model by `transforms`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.latency.backends.base import (
    Backend,
    ModelRejected,
    PreparedModel,
    register_backend,
    timer,
)
from edgeprune.latency.device import cpu_identity, gpu_identity, usable_cpus
from edgeprune.latency.result import DeviceIdentity
from edgeprune.onnxio.precision import convert_fp16, quantize_int8, random_input
from edgeprune.onnxio.session import exact_int8

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(double)": np.float64, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


def _ort():
    import onnxruntime

    return onnxruntime


def session_options(threads: int, spinning: bool = True):
    """Sequential, `threads` intra-op threads, and the int8 kernels the Detector runs.
    `spinning=False`: the intra-op threads sleep between runs instead of busy-waiting."""
    ort = _ort()
    options = exact_int8(ort.SessionOptions())
    options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def load_session(model: bytes | Path, options, providers: list):
    """A session of the model's bytes or, for a Path, of the file (read by ONNX Runtime)."""
    source = str(model) if isinstance(model, Path) else model
    try:
        return _ort().InferenceSession(source, options, providers=providers)
    except Exception as exc:  # onnxruntime raises InvalidProtobuf, InvalidGraph, Fail, ...
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelRejected(f"ONNX Runtime cannot load the model: {message}") from None


def single_input(session, input_shape: tuple[int, ...]) -> tuple[str, np.dtype]:
    """The model's one input, checked against `input_shape` (rank and fixed dimensions)."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelRejected(f"the model has {len(inputs)} inputs "
                            f"({', '.join(i.name for i in inputs)}); latency is measured for "
                            f"single-input models")
    spec = inputs[0]
    if len(spec.shape) != len(input_shape):
        raise ModelRejected(f"input {spec.name!r} has rank {len(spec.shape)} {spec.shape}, "
                            f"but the input shape asked for is {list(input_shape)}")
    for fixed, wanted in zip(spec.shape, input_shape, strict=True):
        if isinstance(fixed, int) and fixed > 0 and fixed != wanted:
            raise ModelRejected(f"input {spec.name!r} is fixed at {spec.shape}; cannot feed "
                                f"{list(input_shape)}")
    if spec.type not in _ORT_TYPES:
        raise ModelRejected(f"input {spec.name!r} has type {spec.type}; expected a float input")
    return spec.name, np.dtype(_ORT_TYPES[spec.type])


def run_once(session, feed: dict, source: str) -> None:
    """One inference, turning a failure into an error that names the cause."""
    try:
        session.run(None, feed)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelRejected(f"{source}: the model fails to run: {message}") from None


# Timing sessions do not busy-wait. A candidate is timed interleaved with the base, two
# sessions in one process: with ONNX Runtime's default spinning, the idle session's intra-op
# thread keeps a core busy while the other session runs, so on a 2-core CPU with 2 threads
# every measurement fought itself (the demo's base, 2 threads: 52 s per measurement, ratio CI
# +-11.6%, every one re-measured twice; spinning off: 14 s, +-2.7%, none re-measured;
# benchmarks/results/latency_spinning.md).
TIMING_SPINS = False


@register_backend
class OrtCpuBackend(Backend):
    """ONNX Runtime on the CPU: sequential execution, `threads` intra-op threads."""

    name = "ort-cpu"
    precisions = ("fp32", "int8")
    description = "ONNX Runtime, CPU execution provider"

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and threads < 0:
            raise EdgepruneError(f"ort-cpu: threads must be >= 0, got {threads}")
        # 0 or None: one thread per logical CPU this process may use, recorded as such in the
        # device identity (two threads pinned to one core wait on each other at every layer)
        self.threads = threads or usable_cpus()

    def version(self) -> str:
        # in the version, so results timed with spinning (before TIMING_SPINS) are not
        # reused from a cache, and a device server reports it to its clients' caches too
        return f"onnxruntime {_ort().__version__}" + ("" if TIMING_SPINS else ", no spinning")

    def _detect_identity(self) -> DeviceIdentity:
        return cpu_identity(self.threads)

    def loads_files(self, precision: str) -> bool:
        return precision == "fp32"

    def prepare(self, model_bytes: bytes | Path, input_shape: tuple[int, ...],
                precision: str) -> PreparedModel:
        options = session_options(self.threads, spinning=TIMING_SPINS)
        session = load_session(model_bytes, options, ["CPUExecutionProvider"])
        name, dtype = single_input(session, input_shape)
        if precision == "int8":
            session = load_session(quantize_int8(model_bytes, name, input_shape), options,
                                   ["CPUExecutionProvider"])
        feed = {name: random_input(input_shape, dtype)}
        run_once(session, feed, "ort-cpu")
        return PreparedModel(timer(lambda: session.run(None, feed)))


@register_backend
class OrtCudaBackend(Backend):
    """ONNX Runtime's CUDA provider (onnxruntime-gpu); I/O stays on the GPU while timing."""

    name = "ort-cuda"
    precisions = ("fp32", "fp16")
    description = "ONNX Runtime, CUDA execution provider (onnxruntime-gpu)"

    def __init__(self, device_id: int = 0) -> None:
        self.device_id = device_id
        self.gpu_mem_limit: int | None = None
        available = _ort().get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise EdgepruneError(
                "ort-cuda needs onnxruntime-gpu and a CUDA GPU: this onnxruntime offers "
                f"{', '.join(available)} (pip uninstall onnxruntime && pip install "
                "onnxruntime-gpu)")

    def version(self) -> str:
        return f"onnxruntime-gpu {_ort().__version__}"

    def _detect_identity(self) -> DeviceIdentity:
        return gpu_identity(_cuda_device_name(self.device_id))

    def limit_memory(self, max_bytes: int) -> None:
        # the CUDA provider's arena stops growing here; an allocation past it fails the run
        self.gpu_mem_limit = max_bytes

    def prepare(self, model_bytes: bytes, input_shape: tuple[int, ...],
                precision: str) -> PreparedModel:
        ort = _ort()
        if precision == "fp16":
            model_bytes = convert_fp16(model_bytes)
        cuda_options: dict = {"device_id": self.device_id}
        if self.gpu_mem_limit is not None:
            cuda_options["gpu_mem_limit"] = self.gpu_mem_limit
        providers = [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
        session = load_session(model_bytes, session_options(1), providers)
        name, dtype = single_input(session, input_shape)
        run_once(session, {name: random_input(input_shape, dtype)}, "ort-cuda")
        binding = session.io_binding()
        device_input = ort.OrtValue.ortvalue_from_numpy(random_input(input_shape, dtype),
                                                        "cuda", self.device_id)
        binding.bind_ortvalue_input(name, device_input)
        for output in session.get_outputs():
            binding.bind_output(output.name, "cuda", self.device_id)
        # run_with_iobinding returns after the GPU work is done, so wall time is GPU time.
        return PreparedModel(timer(lambda: session.run_with_iobinding(binding)))


def _cuda_device_name(device_id: int) -> str:
    """The GPU's name from cuda-python or torch when either can tell, else a generic label."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        cudart = None
    if cudart is not None:
        error, props = cudart.cudaGetDeviceProperties(device_id)
        if error == cudart.cudaError_t.cudaSuccess:
            return props.name.decode(errors="replace").rstrip("\x00")
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(device_id)
    except ImportError:
        pass
    return f"CUDA device {device_id}"
