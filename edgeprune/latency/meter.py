"""`LatencyMeter`: what the search and the CLI call. It turns a model into a LatencyResult on
one device, through the cache, and watches a reference model for drift.

    meter = resolve_device("jetson-nano")          # a profile, a .yaml, or http://HOST:PORT
    result = meter.measure(model)                  # DarknetModel, Checkpoint, cfg, ONNX bytes
    result.median_ms, result.from_cache

For our models the cache key comes from the cfg, so a cache hit costs no ONNX export. Drift:
every `protocol.drift_every` fresh measurements (and before the first) the meter times a small
fixed reference network; its median is compared with the first one ever recorded for this
device in the cache. A ratio outside 1 +- `drift_tolerance` (a throttling Jetson, a busy CPU)
is logged and recorded in every result until the next check.

Drift correction: with `use_reference(base)` every candidate is timed interleaved with the
base in the same window (protocol.run_interleaved), and its result carries the median ratio to
the base. A busy machine slows both models of a pair alike, so the ratio holds where the
milliseconds drift; the search's reward and target use it. Such results are cached under the
pair (candidate, reference).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from edgeprune.clock import utc_now
from edgeprune.errors import EdgepruneError
from edgeprune.latency.archhash import cfg_arch_hash, onnx_arch_hash
from edgeprune.latency.backends import Backend, create_backend
from edgeprune.latency.cache import CacheKey, LatencyCache
from edgeprune.latency.profiles import DeviceProfile, resolve_profile
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import LatencyResult, check_precision
from edgeprune.latency.settle import ATTEMPTS, SettledResult, settle
from edgeprune.onnxio.serialize import load_onnx

log = logging.getLogger("edgeprune.latency")

REFERENCE_CHANNELS = (16, 32, 64)


class LatencyMeter:
    """Measures models on one backend with one protocol, through an optional cache."""

    def __init__(self, backend: Backend, *, cache: LatencyCache | None = None,
                 protocol: Protocol | None = None, precision: str = "fp32",
                 imgsz: tuple[int, int] | None = None, batch: int = 1,
                 profile: DeviceProfile | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.protocol = protocol or Protocol()
        self.precision = check_precision(precision)
        self.imgsz = imgsz
        self.batch = batch
        self.profile = profile
        self.fresh_measurements = 0
        self.drift: dict | None = None
        self._baselines: dict[tuple, float] = {}
        self.reference: tuple[str, object] | None = None  # (arch hash, model) to time against
        self._reference_onnx: dict[tuple[int, ...], bytes] = {}

    @property
    def latency_budget_ms(self) -> float | None:
        return self.profile.latency_budget_ms if self.profile else None

    def describe(self) -> str:
        return f"{self.backend.measured_by()} on {self.backend.identity().describe()}"

    # ---------------------------------------------------------------------------- measuring

    def use_reference(self, model) -> None:
        """Time every later measurement interleaved with `model` (the search's base), so the
        results carry the ratio to it measured in the same window (`LatencyResult.ratio`)."""
        arch_hash, _, _ = self._prepare(model, None)
        self.reference = (arch_hash, model)
        self._reference_onnx = {}

    def measure(self, model, input_shape: tuple[int, ...] | None = None,
                precision: str | None = None, *, use_cache: bool = True,
                interleave: bool = True) -> LatencyResult:
        """Latency of `model`: a DarknetModel, Checkpoint, DarknetCfg, ONNX bytes or a path to
        an .onnx file. `input_shape` defaults to (batch, channels, *imgsz) with the meter's
        imgsz, else the model's own. With a reference set (`use_reference`) and `interleave`,
        the model is timed against it; the reference itself, or `interleave=False`, alone (the
        reference's result then carries ratio 1, so a candidate that is the base unpruned is
        scored like every other candidate)."""
        precision = check_precision(precision or self.precision)
        arch_hash, shape, export = self._prepare(model, input_shape)
        keyed = self.keyed_hash(arch_hash, interleave)
        paired = keyed != arch_hash
        key = self.cache_key(keyed, shape, precision)
        itself = interleave and self.reference is not None and not paired
        if use_cache and self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                return own_reference(cached) if itself else cached
        if self.protocol.drift_every and \
                self.fresh_measurements % self.protocol.drift_every == 0:
            self.check_drift(shape, precision)
        if paired:
            reference_hash = self.reference[0]
            result = self.backend.measure_interleaved(export(), self._reference_bytes(shape),
                                                      shape, precision, self.protocol,
                                                      reference_hash=reference_hash)
        else:
            result = self.backend.measure(export(), shape, precision, self.protocol)
        self.fresh_measurements += 1
        if self.drift is not None:
            result.drift = {**self.drift, "measurements_since_check":
                            self.fresh_measurements - self.drift["at_measurement"] - 1}
        if use_cache and self.cache is not None:
            self.cache.put(key, result)
        return own_reference(result) if itself else result

    def cached(self, model, input_shape: tuple[int, ...] | None = None,
               precision: str | None = None) -> LatencyResult | None:
        """What `measure` would answer from the cache, or None (nothing is measured)."""
        if self.cache is None:
            return None
        precision = check_precision(precision or self.precision)
        arch_hash, shape, _ = self._prepare(model, input_shape)
        keyed = self.keyed_hash(arch_hash, True)
        found = self.cache.get(self.cache_key(keyed, shape, precision))
        if found is not None and self.reference is not None and keyed == arch_hash:
            return own_reference(found)
        return found

    def measure_settled(self, model, input_shape: tuple[int, ...] | None = None,
                        attempts: int = ATTEMPTS) -> SettledResult:
        """`model` measured as `measure` does until two independent measurements agree
        (settle.py), for a number much else leans on (a search's base, the reference); the
        kept result goes into the cache, so later calls of `measure` answer with it."""
        settled = settle(lambda use_cache: self.measure(model, input_shape,
                                                        use_cache=use_cache), attempts)
        if self.cache is not None and not settled.reused:
            precision = check_precision(self.precision)
            arch_hash, shape, _ = self._prepare(model, input_shape)
            key = self.cache_key(self.keyed_hash(arch_hash, True), shape, precision)
            self.cache.put(key, dataclasses.replace(settled.result, from_cache=False))
        return settled

    def _reference_bytes(self, shape: tuple[int, ...]) -> bytes:
        """The reference's ONNX at `shape`, exported once: the same bytes every time, so a
        device server stores it once."""
        if shape not in self._reference_onnx:
            _, _, export = self._prepare(self.reference[1], shape)
            self._reference_onnx[shape] = export()
        return self._reference_onnx[shape]

    def keyed_hash(self, arch_hash: str, interleave: bool = True) -> str:
        """What a result of `arch_hash` is cached under: paired with the reference's hash when
        it is timed against the reference (a search on a cluster looks results up by it)."""
        if interleave and self.reference is not None and self.reference[0] != arch_hash:
            return f"{arch_hash}~{self.reference[0]}"
        return arch_hash

    def cache_key(self, arch_hash: str, shape: tuple[int, ...], precision: str) -> CacheKey:
        return CacheKey(arch_hash, tuple(shape), precision, self.backend.cache_backend_key(),
                        self.backend.identity().key())

    def _prepare(self, model, input_shape):
        """(architecture hash, input shape, a function giving the ONNX bytes)."""
        from edgeprune.models.cfg import DarknetCfg
        from edgeprune.models.checkpoint import Checkpoint
        from edgeprune.models.darknet import DarknetModel

        default_hw = None
        if isinstance(model, Checkpoint):
            default_hw = model.imgsz
            model = model.model
        if isinstance(model, DarknetCfg):
            cfg, module = model, None
        elif isinstance(model, DarknetModel):
            cfg, module = model.cfg, model
        else:
            return self._prepare_onnx(model, input_shape)
        height, width = self.imgsz or default_hw or (cfg.net.height, cfg.net.width)
        shape = tuple(input_shape or (self.batch, cfg.net.channels, height, width))

        def export() -> bytes:
            from edgeprune.onnxio.serialize import onnx_bytes

            return onnx_bytes(module if module is not None else DarknetModel(cfg),
                              (shape[2], shape[3]), batch=shape[0])

        return cfg_arch_hash(cfg), shape, export

    def _prepare_onnx(self, model, input_shape):
        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise EdgepruneError(f"{path}: no such ONNX file")
            data, source = path.read_bytes(), str(path)
        elif isinstance(model, (bytes, bytearray)):
            data, source = bytes(model), "model"
        else:
            raise EdgepruneError(f"cannot measure a {type(model).__name__}: give a "
                                 f"DarknetModel, Checkpoint, DarknetCfg, ONNX bytes or path")
        proto = load_onnx(data, source)
        shape = tuple(input_shape) if input_shape else self._onnx_input_shape(proto, source)
        return onnx_arch_hash(proto, source), shape, lambda: data

    def _onnx_input_shape(self, proto, source: str) -> tuple[int, ...]:
        initializers = {t.name for t in proto.graph.initializer}
        inputs = [v for v in proto.graph.input if v.name not in initializers]
        if len(inputs) != 1:
            raise EdgepruneError(f"{source}: the model has {len(inputs)} inputs; latency is "
                                 f"measured for single-input models")
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) == 4:
            if self.imgsz and all(dims[2:]) and tuple(dims[2:]) != tuple(self.imgsz):
                raise EdgepruneError(
                    f"{source}: the ONNX input is fixed at {dims[3]}x{dims[2]}, not "
                    f"{self.imgsz[1]}x{self.imgsz[0]}; export it at that size (edgeprune "
                    f"export --imgsz) or measure the .pt/.cfg")
            fill = [self.batch, 3, *(self.imgsz or (None, None))]
            dims = [d if d else f for d, f in zip(dims, fill, strict=True)]
        if any(d is None for d in dims):
            raise EdgepruneError(f"{source}: input {inputs[0].name!r} has unknown dimensions; "
                                 f"give the input size (--imgsz)")
        return tuple(dims)

    # ---------------------------------------------------------------------------- drift

    def check_drift(self, shape: tuple[int, ...], precision: str) -> dict:
        """Time the reference network now and compare with its first recorded median."""
        reference_shape = (1, 3, shape[2], shape[3]) if len(shape) == 4 else (1, 3, 224, 224)
        result = self.backend.measure(reference_onnx(), reference_shape, precision,
                                      self.protocol)
        key = self.cache_key("reference", reference_shape, precision)
        memory_key = key.row()
        baseline = self._baselines.get(memory_key)
        if baseline is None and self.cache is not None:
            baseline = self.cache.reference_baseline(key)
        if baseline is None:
            baseline = result.median_ms
            if self.cache is not None:
                self.cache.set_reference_baseline(key, baseline)
        self._baselines[memory_key] = baseline
        ratio = result.median_ms / baseline if baseline > 0 else 1.0
        detected = abs(ratio - 1) > self.protocol.drift_tolerance
        self.drift = {"reference_baseline_ms": baseline, "reference_ms": result.median_ms,
                      "ratio": ratio, "detected": detected,
                      "tolerance": self.protocol.drift_tolerance, "checked_at": utc_now(),
                      "at_measurement": self.fresh_measurements}
        if detected:
            log.warning("latency drift on %s: the reference model now takes %.3f ms, %.0f%% "
                        "of its recorded %.3f ms (thermal throttling or a busy device?)",
                        self.describe(), result.median_ms, ratio * 100, baseline)
        return self.drift

    def close(self) -> None:
        self.backend.close()
        if self.cache is not None:
            self.cache.close()


def own_reference(result: LatencyResult) -> LatencyResult:
    """The reference timed alone, as the reference of itself: ratio 1 by definition (timing a
    model interleaved with itself would only measure noise)."""
    return dataclasses.replace(result, reference={
        "arch_hash": None, "median_ms": result.median_ms, "ratio": 1.0, "ratio_ci": [1.0, 1.0],
        "ratio_cv": 0.0, "pairs": 0, "interleaved": False})


def reference_onnx() -> bytes:
    """A fixed small conv net (3 strided 3x3 conv + ReLU) used to detect drift."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, initializers = [], []
    previous, channels = "images", 3
    for index, out in enumerate(REFERENCE_CHANNELS):
        weight = rng.standard_normal((out, channels, 3, 3)).astype(np.float32) * 0.1
        initializers.append(numpy_helper.from_array(weight, f"w{index}"))
        nodes.append(helper.make_node("Conv", [previous, f"w{index}"], [f"c{index}"],
                                      kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
        output = "out" if index == len(REFERENCE_CHANNELS) - 1 else f"r{index}"
        nodes.append(helper.make_node("Relu", [f"c{index}"], [output]))
        previous, channels = output, out
    graph = helper.make_graph(
        nodes, "edgeprune-drift-reference",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def resolve_device(spec: str | DeviceProfile | None = None, *, token: str | None = None,
                   cache: LatencyCache | str | Path | bool | None = True,
                   protocol: dict | Protocol | None = None, precision: str | None = None,
                   imgsz=None, threads: int | None = None) -> LatencyMeter:
    """A LatencyMeter for `--device SPEC`: a profile name (robots/NAME.yaml, default `cpu`),
    a profile .yaml path, a server address http://HOST:PORT, or a DeviceProfile. A pool
    profile (`servers: [...]`) measures on its first board.

    `cache`: True for the default cache file, a path or LatencyCache, False/None for none.
    `protocol` overrides the profile's protocol fields; `precision`, `imgsz` and `threads`
    override the profile's values.
    """
    from edgeprune.models.loading import parse_imgsz

    profile = resolve_profile(spec).members()[0]
    if profile.server:
        expect = None if profile.backend == "remote" else profile.backend
        backend = create_backend("remote", url=profile.server, token=token,
                                 token_file=profile.token_file, expect_backend=expect)
    else:
        if profile.backend == "remote":
            raise EdgepruneError(f"{profile.source}: backend 'remote' needs a 'server' address")
        options = profile.backend_options()
        if threads is not None and profile.backend == "ort-cpu":
            options["threads"] = threads
        backend = create_backend(profile.backend, **options)
    base = Protocol().with_overrides(profile.protocol, f"{profile.source}: protocol")
    if isinstance(protocol, Protocol):
        base = protocol
    elif protocol:
        base = base.with_overrides(protocol)
    if cache is True:
        cache = LatencyCache()
    elif isinstance(cache, (str, Path)):
        cache = LatencyCache(cache)
    elif not isinstance(cache, LatencyCache):
        cache = None
    return LatencyMeter(backend, cache=cache, protocol=base,
                        precision=precision or profile.precision,
                        imgsz=parse_imgsz(imgsz) if imgsz is not None else profile.imgsz,
                        batch=profile.batch, profile=profile)
