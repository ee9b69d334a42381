"""The backend interface and its registry: a backend turns (ONNX bytes, input shape, precision,
protocol) into a LatencyResult on the device it owns.

Backends are chosen by name (`ort-cpu`, `ort-cuda`, `tensorrt`, `remote`); each module that
defines one registers it with `@register_backend`, and runtime libraries (onnxruntime,
tensorrt, cuda-python) are imported only when a backend is used.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from edgeprune.clock import utc_now
from edgeprune.errors import EdgepruneError, ModelRejected
from edgeprune.latency.protocol import (
    PairedTiming,
    Protocol,
    Timing,
    run_interleaved,
    run_protocol,
)
from edgeprune.latency.result import DeviceIdentity, LatencyResult, check_precision
from edgeprune.registry import Registry

if TYPE_CHECKING:
    from edgeprune.latency.lut import LatencyPredictor
    from edgeprune.models.cfg import DarknetCfg

__all__ = ["BACKENDS", "Backend", "ModelRejected", "PreparedModel", "create_backend",
           "register_backend"]


@dataclasses.dataclass
class PreparedModel:
    """A model loaded on the device and ready to run: `timed_call()` runs one inference and
    returns its duration in seconds; `close()` frees what loading took."""

    timed_call: Callable[[], float]
    close: Callable[[], None] = lambda: None
    build_s: float | None = None  # engine build time, where there is one


class Backend(ABC):
    """Measures ONNX models on one device. Subclasses set `name` and `precisions`."""

    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""
    identity_ttl_s: ClassVar[float] = 5.0

    @abstractmethod
    def version(self) -> str:
        """The runtime's name and version, e.g. 'onnxruntime 1.20.1'."""

    @abstractmethod
    def _detect_identity(self) -> DeviceIdentity:
        """Read the device's identity (files, driver queries)."""

    def identity(self) -> DeviceIdentity:
        """The device this backend measures on, re-read at most every few seconds so a cache
        hit stays fast while a power-mode change still shows within one measurement."""
        now = time.monotonic()
        cached = getattr(self, "_identity_cache", None)
        if cached is None or now - cached[0] > self.identity_ttl_s:
            cached = (now, self._detect_identity())
            self._identity_cache = cached
        return cached[1]

    def prepare(self, model_bytes: bytes, input_shape: tuple[int, ...],
                precision: str) -> PreparedModel:
        """Load a model (precision already checked) for timing. Backends that time on this
        machine implement it; `measure` and `measure_interleaved` are built on it."""
        raise NotImplementedError(f"backend {self.name} does not load models here")

    def _measure(self, model_bytes: bytes, input_shape: tuple[int, ...], precision: str,
                 protocol: Protocol) -> LatencyResult:
        """Measure a model whose precision has already been checked."""
        started = time.perf_counter()
        prepared = self.prepare(model_bytes, input_shape, precision)
        try:
            timing = run_protocol(prepared.timed_call, protocol)
        finally:
            prepared.close()
        return self.result(timing, input_shape, precision, started,
                           engine_build_s=prepared.build_s)

    def _measure_pair(self, model_bytes: bytes, reference_bytes: bytes,
                      input_shape: tuple[int, ...], precision: str,
                      protocol: Protocol) -> tuple[LatencyResult, PairedTiming]:
        """Both models loaded at once and timed in alternation (protocol.run_interleaved)."""
        started = time.perf_counter()
        candidate = self.prepare(model_bytes, input_shape, precision)
        try:
            reference = self.prepare(reference_bytes, input_shape, precision)
            try:
                paired = run_interleaved(candidate.timed_call, reference.timed_call, protocol)
            finally:
                reference.close()
        finally:
            candidate.close()
        return self.result(paired.candidate, input_shape, precision, started,
                           engine_build_s=candidate.build_s), paired

    def loads_files(self, precision: str) -> bool:
        """Whether `prepare`/`_measure` take a Path to the ONNX file at this precision."""
        return False

    def measured_by(self) -> str:
        """The backend that produces the numbers (the server's, for `remote`)."""
        return self.name

    def cache_backend_key(self) -> str:
        return f"{self.measured_by()} {self.version()}"

    def measure(self, model_bytes: bytes | Path, input_shape: tuple[int, ...],
                precision: str = "fp32", protocol: Protocol | None = None) -> LatencyResult:
        """Latency of the ONNX model `model_bytes` fed one input of `input_shape`. A Path is
        read here unless the backend loads files itself (`loads_files`), so the device server
        never holds a second copy of a large upload."""
        self._check(input_shape, precision)
        if isinstance(model_bytes, Path) and not self.loads_files(precision):
            model_bytes = model_bytes.read_bytes()
        return self._measure(model_bytes, tuple(int(d) for d in input_shape), precision,
                             protocol or Protocol())

    def _check(self, input_shape: tuple[int, ...], precision: str) -> None:
        check_precision(precision)
        if precision not in self.precisions:
            raise EdgepruneError(f"backend {self.name} measures {', '.join(self.precisions)}, "
                                 f"not {precision}")
        if not input_shape or any(int(d) < 1 for d in input_shape):
            raise ModelRejected(f"input shape {input_shape}: every dimension must be >= 1")

    def measure_interleaved(self, model_bytes: bytes | Path, reference_bytes: bytes | Path,
                            input_shape: tuple[int, ...], precision: str = "fp32",
                            protocol: Protocol | None = None,
                            reference_hash: str | None = None) -> LatencyResult:
        """Latency of `model_bytes` timed interleaved with `reference_bytes` in one window;
        the result's `reference` entry holds the reference's median and the median ratio.

        A backend that cannot hold two models at once (a device server of the first protocol
        version) times the reference right before and right after the candidate instead, and
        says so (`interleaved: false`)."""
        self._check(input_shape, precision)
        shape = tuple(int(d) for d in input_shape)
        protocol = protocol or Protocol()
        if not self.loads_files(precision):
            model_bytes, reference_bytes = (
                m.read_bytes() if isinstance(m, Path) else m
                for m in (model_bytes, reference_bytes))
        try:
            result, paired = self._measure_pair(model_bytes, reference_bytes, shape, precision,
                                                protocol)
        except NotImplementedError:
            before = self._measure(reference_bytes, shape, precision, protocol)
            result = self._measure(model_bytes, shape, precision, protocol)
            after = self._measure(reference_bytes, shape, precision, protocol)
            reference_ms = float(np.sqrt(before.median_ms * after.median_ms))
            ratio = result.median_ms / reference_ms
            result.reference = {"arch_hash": reference_hash, "median_ms": reference_ms,
                                "ratio": ratio, "ratio_ci": [ratio, ratio],
                                "ratio_cv": abs(before.median_ms - after.median_ms)
                                / reference_ms, "pairs": 0, "interleaved": False}
            return result
        result.reference = paired.summary(reference_hash)
        return result

    def measure_units(self, cfg: DarknetCfg, imgsz: tuple[int, int], precision: str,
                      round_to: int, grid: Sequence[float],
                      progress: Callable[[int, int], None] | None = None
                      ) -> LatencyPredictor | None:
        """The unit table of `cfg` (lut.py) built where the device is and cached there (a
        device server: POST /units), or None where the caller times the units one at a time
        through its own meter and cache (a local backend, a server of an earlier release)."""
        return None

    def info(self) -> dict:
        return {"backend": self.measured_by(), "version": self.version(),
                "precisions": list(self.precisions),
                "device": dataclasses.asdict(self.identity())}

    def close(self) -> None:  # noqa: B027 (most backends hold nothing between measurements)
        """Release device resources (sessions, engines, CUDA memory)."""

    def limit_memory(self, max_bytes: int) -> None:  # noqa: B027 (CPU memory: the kernel's cap)
        """Keep a model's device memory under `max_bytes` (the device server's memory cap).
        CPU memory is capped by the measuring process's rlimit (measure_child.py); backends
        with memory of their own (a GPU's) bound it here."""

    def result(self, timing: Timing, input_shape: tuple[int, ...], precision: str,
               started: float, engine_build_s: float | None = None) -> LatencyResult:
        """A LatencyResult from this backend's timing of one model."""
        return LatencyResult(**timing.stats(), input_shape=input_shape, precision=precision,
                             backend=self.name, backend_version=self.version(),
                             device=self.identity(), engine_build_s=engine_build_s,
                             timing_s=timing.seconds, measured_at=utc_now(),
                             total_s=time.perf_counter() - started)


BACKENDS: Registry[type[Backend]] = Registry("latency backend",
                                             builtins="edgeprune.latency.backends")
register_backend = BACKENDS.register


def create_backend(name: str, **options) -> Backend:
    """The backend registered as `name`, built with its options (threads, workspace_mb ...)."""
    cls = BACKENDS.get(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise EdgepruneError(f"latency backend {name}: bad options {sorted(options)} "
                             f"({exc})") from None


def timer(call: Callable[[], object]) -> Callable[[], float]:
    """Wraps a blocking call into the protocol's `timed_call` (seconds by perf_counter)."""

    def timed() -> float:
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    return timed
