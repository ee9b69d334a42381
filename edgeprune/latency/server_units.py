"""POST /units on the device server: the layer units of a base (lut.py) timed on this device,
kept in the server's own cache, answered as the unit table a latency model starts from.

    POST /units  body (JSON, at most 256 KiB): {"cfg": the base's Darknet cfg text,
                 "imgsz": [height, width], "precision": "fp16", "round_to": 8,
                 "grid": [0.25, 0.5, 0.75, 1.0]}   (precision, round_to, grid optional)
             -> 200 {"complete", "units", "done", "measured", "cached", "seconds",
                     "build_s", "timing_s", "table" (the LatencyPredictor, when complete)}

Every unit is its own job in the measuring child, under the deadline (--max-measure-seconds)
like any measurement, the device taken for that unit only, so other clients' measurements go
in between. A request starts no new unit once it has worked for --units-slice seconds: it
answers what it has with `complete: false`, the client asks again and the server resumes from
its cache, where every unit is kept as soon as it is timed. An answer thus never takes longer
than the slice plus one unit, and a client that goes away stops the unit in progress (within
a second) and loses nothing measured. A second request for the same table, from this client
or another search, is answered from the cache alone.

A unit is cached under what its model runs (its kind, geometry and channels, and layer_onnx's
MODELS_VERSION), input shape, precision, backend and version, and device identity: the
LatencyCache key every measurement has. Its one-layer model is built by the measuring child,
under the child's memory cap, never in the server's process; and before anything is built
the request is bounded: body size, cfg (parsed with its line numbers in the errors), input
size, grid, count of units, each unit's input and weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from edgeprune.errors import EdgepruneError
from edgeprune.latency.cache import CacheKey, LatencyCache
from edgeprune.latency.layer_onnx import MODELS_VERSION
from edgeprune.latency.lut import (
    DEFAULT_GRID,
    DEFAULT_ROUND_TO,
    LAYER_PROTOCOL,
    PER_RUN_UNIT,
    LayerQuery,
    grid_queries,
    unit_table,
)
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import DeviceIdentity, LatencyResult
from edgeprune.latency.server_device import Device
from edgeprune.latency.server_limits import (
    MAX_DIMENSION,
    RequestRefused,
    ServerLimits,
    fitted_protocol,
    parse_precision,
)
from edgeprune.latency.server_upload import Body, ClientGone
from edgeprune.models.cfg import parse_cfg

log = logging.getLogger("edgeprune.server")

MAX_BODY_BYTES = 256 << 10  # a full yolov3-spp cfg is 9 KB
MAX_UNITS = 4096  # a full yolov3 at the default grid has 311
MAX_GRID = 8
MAX_ROUND_TO = 256
FIELDS = ("cfg", "imgsz", "precision", "round_to", "grid")


@dataclass(frozen=True)
class UnitsRequest:
    """What a POST /units asks for, checked: the per-run unit first, then the table's units."""

    imgsz: tuple[int, int]
    precision: str
    round_to: int
    grid: tuple[float, ...]
    units: tuple[LayerQuery, ...]


def check_units_length(value: str | None) -> None:
    """A body declared larger than a units request may be is refused before it is read."""
    if value is not None and value.isascii() and value.isdigit() and \
            int(value) > MAX_BODY_BYTES:
        raise RequestRefused(413, f"a /units body is at most {MAX_BODY_BYTES} bytes; this one "
                                  f"declares {value[:15]}")


def parse_units_request(data: bytes, limits: ServerLimits,
                        precisions: Sequence[str]) -> UnitsRequest:
    """The request in `data`, every field bounded; RequestRefused (400) naming what is wrong."""
    try:
        fields = json.loads(data)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise RequestRefused(400, 'the body is not a JSON object: send {"cfg": CFG TEXT, '
                                  '"imgsz": [HEIGHT, WIDTH]} (Content-Type: application/json)')
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise RequestRefused(400, f"unknown field {unknown[0][:40]!r} (known: "
                                  f"{', '.join(FIELDS)})")
    text = fields.get("cfg")
    if not isinstance(text, str) or not text.strip():
        raise RequestRefused(400, "field 'cfg' must be the base's Darknet cfg text")
    imgsz = fields.get("imgsz")
    if not (isinstance(imgsz, list) and len(imgsz) == 2 and
            all(_integer(v) and 1 <= v <= MAX_DIMENSION for v in imgsz)):
        raise RequestRefused(400, f"field 'imgsz' must be [height, width], each 1.."
                                  f"{MAX_DIMENSION}")
    precision = fields.get("precision", "fp32")
    if not isinstance(precision, str):
        raise RequestRefused(400, "field 'precision' must be a string such as 'fp16'")
    precision = parse_precision(precision, tuple(precisions))
    round_to = fields.get("round_to", DEFAULT_ROUND_TO)
    if not (_integer(round_to) and 1 <= round_to <= MAX_ROUND_TO):
        raise RequestRefused(400, f"field 'round_to' must be an integer 1..{MAX_ROUND_TO}")
    grid = fields.get("grid", list(DEFAULT_GRID))
    if not (isinstance(grid, list) and 1 <= len(grid) <= MAX_GRID and
            all(isinstance(g, (int, float)) and not isinstance(g, bool) and 0 < g <= 1
                for g in grid)):
        raise RequestRefused(400, f"field 'grid' must be 1 to {MAX_GRID} fractions of a "
                                  f"layer's channels, each in (0, 1]")
    try:
        cfg = parse_cfg(text, "cfg")
        queries = grid_queries(cfg, (imgsz[0], imgsz[1]), grid, round_to)
    except EdgepruneError as exc:
        raise RequestRefused(400, f"{exc}") from None
    if len(queries) + 1 > MAX_UNITS:
        raise RequestRefused(400, f"this base at this grid has {len(queries)} units, over "
                                  f"this server's {MAX_UNITS}")
    for query in queries:
        _check_unit(query, limits)
    return UnitsRequest((imgsz[0], imgsz[1]), precision, round_to,
                        tuple(float(g) for g in grid), (PER_RUN_UNIT, *queries))


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_unit(unit: LayerQuery, limits: ServerLimits) -> None:
    """A unit is a model the server would have accepted as an upload: its input within
    --max-input-elements, its weights within --max-upload-mb."""
    elements = 1
    for dimension in unit.input_shape:
        elements *= dimension
    if elements > limits.max_input_elements:
        raise RequestRefused(400, f"unit {describe(unit)}: {elements:,} input values exceed "
                                  f"this server's limit of {limits.max_input_elements:,} "
                                  f"(device serve --max-input-elements)",
                             limit="--max-input-elements")
    if unit.kind == "conv":
        size, _, groups = unit.geometry[:3]
        weight_bytes = 4 * (unit.in_channels // groups * unit.out_channels * size * size
                            + unit.out_channels)
        if weight_bytes > limits.max_upload_bytes:
            raise RequestRefused(400, f"unit {describe(unit)}: its weights take "
                                      f"{weight_bytes:,} bytes, over this server's upload "
                                      f"limit (device serve --max-upload-mb)",
                                 limit="--max-upload-mb")


def describe(unit: LayerQuery) -> str:
    """'conv 3x3/2 leaky 16->32 at 64x64' (width x height)."""
    height, width = unit.geometry[-2:]
    if unit.kind == "conv":
        size, stride, _, _, activation = unit.geometry[:5]
        return (f"conv {size}x{size}/{stride} {activation} {unit.in_channels}->"
                f"{unit.out_channels} at {width}x{height}")
    return f"{unit.kind} of {unit.in_channels} channels at {width}x{height}"


def unit_hash(unit: LayerQuery) -> str:
    """What a unit is cached under: what its model runs (layer_onnx builds it from exactly
    these fields), not its weights."""
    text = json.dumps([MODELS_VERSION, unit.to_json()], sort_keys=True, separators=(",", ":"))
    return "unit-" + hashlib.sha256(text.encode()).hexdigest()


async def read_units_request(body: Body, limits: ServerLimits, precisions: Sequence[str]
                             ) -> UnitsRequest | RequestRefused | None:
    """The request in `body`, read under the body limits; a refusal; None when the client
    went away."""
    data = bytearray()
    try:
        async for chunk in body.chunks():
            data += chunk
            if len(data) > MAX_BODY_BYTES:
                return RequestRefused(413, f"a /units body is at most {MAX_BODY_BYTES} bytes")
    except ClientGone:
        client = body.request.client
        log.info("%s went away while sending its /units request",
                 f"{client.host}:{client.port}" if client else "?")
        return None
    except RequestRefused as exc:
        return exc
    try:  # a large cfg takes milliseconds to parse: not on the event loop
        return await anyio.to_thread.run_sync(parse_units_request, bytes(data), limits,
                                              precisions)
    except RequestRefused as exc:
        return exc


class UnitTables:
    """Times the units of a request on the device, one job each, through the server's cache."""

    def __init__(self, device: Device, cache: LatencyCache, limits: ServerLimits,
                 protocol: Protocol) -> None:
        self.device = device
        self.cache = cache
        self.limits = limits
        # the server's protocol with a unit's shorter budget, fitted to the deadline
        self.protocol = fitted_protocol(protocol.with_overrides(LAYER_PROTOCOL),
                                        limits.max_measure_seconds)

    async def answer(self, body: Body,
                     until_gone: Callable[[Callable[[], Awaitable]], Awaitable]
                     ) -> dict | RequestRefused | None:
        """Read the request in `body`, then time its units while `until_gone(work)` watches
        the client: the answer, a refusal, or None when the client went away."""
        asked = await read_units_request(body, self.limits, self.device.info["precisions"])
        if not isinstance(asked, UnitsRequest):
            return asked
        return await until_gone(lambda: self.build(asked))

    async def build(self, asked: UnitsRequest) -> dict | RequestRefused:
        """Time what the cache lacks for at most --units-slice seconds; the answer."""
        started = anyio.current_time()
        info = await self.device.fresh_info()
        backend = f"{info['backend']} {info['version']}"
        device = DeviceIdentity.from_json(info["device"])
        medians: list[float] = []
        measured = cached = 0
        build_s = timing_s = 0.0
        for unit in asked.units:
            key = CacheKey(unit_hash(unit), unit.input_shape, asked.precision, backend,
                           device.key())
            result = await self._cached(key)
            if isinstance(result, RequestRefused):
                return result
            if result is not None:
                cached += 1
            else:
                if measured and anyio.current_time() - started >= self.limits.units_slice_s:
                    break  # the client asks again; what is timed stays in the cache
                answer = await self.device.measure(self._job(unit, asked.precision), None)
                if isinstance(answer, RequestRefused):
                    return RequestRefused(answer.status, f"unit {describe(unit)}: {answer}",
                                          answer.headers, answer.limit)
                result = LatencyResult.from_json(answer)
                if refused := await self._keep(key, result):
                    return refused
                measured += 1
                build_s += result.engine_build_s or 0.0
                timing_s += result.timing_s or 0.0
            medians.append(result.median_ms)
        reply = {"complete": len(medians) == len(asked.units), "units": len(asked.units),
                 "done": len(medians), "measured": measured, "cached": cached,
                 "seconds": anyio.current_time() - started, "build_s": build_s,
                 "timing_s": timing_s}
        if reply["complete"]:
            meta = {"backend": backend, "device": device.describe(),
                    "precision": asked.precision, "grid": list(asked.grid),
                    "round_to": asked.round_to}
            reply["table"] = unit_table(asked.units[1:], medians[1:], medians[0],
                                        asked.imgsz, meta).to_json()
        return reply

    def _job(self, unit: LayerQuery, precision: str) -> dict:
        """A measuring child's job: the unit's model is built there (measure_child.py)."""
        return {"unit": unit.to_json(), "reference": None, "shape": list(unit.input_shape),
                "precision": precision, "protocol": self.protocol.to_json()}

    async def _cached(self, key: CacheKey) -> LatencyResult | RequestRefused | None:
        try:
            return await anyio.to_thread.run_sync(self.cache.get, key)
        except EdgepruneError as exc:
            return _cache_failed(exc)

    async def _keep(self, key: CacheKey, result: LatencyResult) -> RequestRefused | None:
        try:
            await anyio.to_thread.run_sync(self.cache.put, key, result)
        except EdgepruneError as exc:
            return _cache_failed(exc)
        return None


def _cache_failed(exc: EdgepruneError) -> RequestRefused:
    log.warning("%s", exc)  # names the file; the client's answer does not
    return RequestRefused(500, "the server cannot use its unit cache (its log says why)")
