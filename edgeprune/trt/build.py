"""TensorRT engine building from ONNX, shared by `export --format engine` and latency measurement.

Written against TensorRT's documented Python API (8.6 and later: name-based I/O tensors,
memory-pool limits, timing caches, optimization profiles; TensorRT 10 strong typing).
TensorRT and cuda-python (`cuda-bindings`, the installable alternative to pycuda) are imported
only when a function here needs them, so everything else in edgeprune runs without them. The
timing cache file is read before and written after every build: once common layer shapes have
been timed, later builds of similar networks take seconds instead of minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprune.atomic import atomic_write_bytes
from edgeprune.cache_paths import default_timing_cache
from edgeprune.errors import ExportError

INSTALL_HINT = ("TensorRT's Python package is not installed (JetPack ships it; on x86 "
                "`pip install tensorrt`), and cuda-python is needed with it "
                "(`pip install cuda-bindings`)")
PRECISIONS = ("fp32", "fp16", "int8")


class EngineError(ExportError):
    """TensorRT cannot build or load an engine."""


class NetworkRejected(EngineError):
    """The ONNX model itself is not acceptable to TensorRT (parser errors, several inputs)."""


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:
        raise EngineError(f"{INSTALL_HINT}: {exc}") from None
    return tensorrt


def import_cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python before the cuda-bindings split
        except ImportError as exc:
            raise EngineError(f"{INSTALL_HINT}: {exc}") from None
    return cudart


def cuda_call(cudart, result, what: str):
    """cuda-python returns (error, *values); raise on error, return the values."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        raise EngineError(f"CUDA {what} failed: {error}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "8.7"

    def to_json(self) -> dict:
        return {"name": self.name, "compute_capability": self.compute_capability}


def gpu_info(cudart, device_id: int = 0) -> GpuInfo:
    """Name and compute capability of CUDA device `device_id` (what an engine is tied to)."""
    props = cuda_call(cudart, cudart.cudaGetDeviceProperties(device_id),
                      "cudaGetDeviceProperties")
    name = props.name
    name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    return GpuInfo(name.rstrip("\x00").strip(), f"{props.major}.{props.minor}")


def onnx_input_name(model_bytes: bytes) -> str:
    """The one graph input of `model_bytes` (initializers listed as inputs are not inputs)."""
    from edgeprune.onnxio.serialize import load_onnx

    graph = load_onnx(model_bytes).graph
    initializers = {t.name for t in graph.initializer}
    inputs = [v.name for v in graph.input if v.name not in initializers]
    if len(inputs) != 1:
        raise NetworkRejected(f"the model has {len(inputs)} inputs "
                              f"({', '.join(inputs) or 'none'}); engines are built for "
                              f"single-input detectors")
    return inputs[0]


@dataclass(frozen=True)
class ProfileShapes:
    """Input shapes of the engine's optimization profile: smallest, tuned-for, largest."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    @classmethod
    def fixed(cls, shape: tuple[int, ...]) -> ProfileShapes:
        return cls(shape, shape, shape)

    @classmethod
    def batches(cls, max_batch: int, imgsz: tuple[int, int], channels: int = 3
                ) -> ProfileShapes:
        """Batch 1..max_batch of (channels, height, width), tuned for max_batch."""
        return cls((1, channels, *imgsz), (max_batch, channels, *imgsz),
                   (max_batch, channels, *imgsz))


class EngineBuilder:
    """Builds serialized engines with one workspace limit and one timing cache file."""

    def __init__(self, workspace_mb: int = 1024, timing_cache: str | Path | None = None,
                 verbose: bool = False) -> None:
        self.trt = import_tensorrt()
        self.workspace_mb = workspace_mb
        self.timing_cache = Path(timing_cache) if timing_cache else default_timing_cache()
        severity = self.trt.Logger.VERBOSE if verbose else self.trt.Logger.WARNING
        self.logger = self.trt.Logger(severity)

    @property
    def version(self) -> str:
        return str(self.trt.__version__)

    @property
    def weakly_typed(self) -> bool:
        """TensorRT before strong typing took precision as builder flags."""
        return hasattr(self.trt.BuilderFlag, "FP16")

    @property
    def has_calibrators(self) -> bool:
        """Whether this TensorRT still offers implicit int8 with a calibrator (deprecated
        since 10.1 in favour of QDQ graphs)."""
        return (self.weakly_typed and hasattr(self.trt.BuilderFlag, "INT8")
                and hasattr(self.trt, "IInt8EntropyCalibrator2"))

    def build(self, model_bytes: bytes, shapes: ProfileShapes, precision: str = "fp32",
              calibrator=None, calibration_shape: tuple[int, ...] | None = None) -> bytes:
        """A serialized engine for the ONNX `model_bytes`; updates the timing cache.

        fp16 sets the builder flag (or, with strong typing, converts the graph keeping float32
        I/O). int8 expects either QDQ nodes in the graph (explicit quantization) or a
        `calibrator` (trt.IInt8Calibrator) fed at `calibration_shape`; layers without int8
        kernels fall back to fp16.
        """
        trt = self.trt
        if precision not in PRECISIONS:
            raise EngineError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        input_name = onnx_input_name(model_bytes)
        weak = self.weakly_typed
        if precision == "fp16" and not weak:
            from edgeprune.onnxio.precision import convert_fp16

            model_bytes = convert_fp16(model_bytes)
        if calibrator is not None and not self.has_calibrators:
            raise EngineError(f"TensorRT {self.version} has no int8 calibrators; use a QDQ "
                              f"model (explicit quantization)")
        builder = trt.Builder(self.logger)
        network = builder.create_network(self._network_flags(weak))
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(model_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise NetworkRejected(f"TensorRT's ONNX parser rejects the model: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_mb << 20)
        if weak and precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)  # int8 falls back to fp16, as deployed
        if weak and precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
        profile = builder.create_optimization_profile()
        profile.set_shape(input_name, shapes.min, shapes.opt, shapes.max)
        config.add_optimization_profile(profile)
        if calibrator is not None:
            shape = calibration_shape or shapes.opt
            calibration = builder.create_optimization_profile()
            calibration.set_shape(input_name, shape, shape, shape)
            config.set_calibration_profile(calibration)
            config.int8_calibrator = calibrator
        previous = self.timing_cache.read_bytes() if self.timing_cache.is_file() else b""
        timing_cache = config.create_timing_cache(previous)
        config.set_timing_cache(timing_cache, False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineError("TensorRT could not build an engine for the model "
                              "(its log above says why)")
        atomic_write_bytes(self.timing_cache,
                           bytes(memoryview(config.get_timing_cache().serialize())))
        return bytes(memoryview(serialized))

    def _network_flags(self, weak: bool) -> int:
        flags = self.trt.NetworkDefinitionCreationFlag
        if not weak:
            return 1 << int(flags.STRONGLY_TYPED)
        if int(self.version.split(".")[0]) < 10:
            return 1 << int(flags.EXPLICIT_BATCH)
        return 0  # explicit batch is the only mode from TensorRT 10 on
