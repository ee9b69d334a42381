"""The device server's bounds: what one request may ask of the device, and how the server
protects itself (upload size and speed, waiting requests, connections, time and memory).

Every query field of POST /measure is checked here before the body is read, so a request that
asks for a billion runs, a ten-million-image batch or `max_seconds=nan` is answered 400 at once
and never reaches the device. The defaults suit a Jetson: a yolov3 at fp32 is 248 MB, a careful
measurement of a slow model on a Nano takes well under a minute, and the board's 4-8 GB are
shared with everything else on the robot.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from edgeprune.errors import EdgepruneError
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import PRECISIONS

MAX_RANK = 6
MAX_DIMENSION = 16384

# Upper bounds of the protocol's count fields; its times are bounded together, by what the
# whole protocol may take against ServerLimits.max_measure_seconds (fit_protocol).
PROTOCOL_CAPS = {"warmup_runs": 1000, "min_runs": 10000, "max_runs": 10000,
                 "check_every": 10000, "max_remeasures": 5, "drift_every": 10**6, "pair_block": 100,
                 "target_rel_ci": 1.0, "max_cv": 10.0, "drift_tolerance": 10.0}


class RequestRefused(Exception):
    """An HTTP answer other than 200: the status, a message for the client, extra headers, and
    the `device serve` option (or "shutdown") whose limit ended the request, if one did."""

    def __init__(self, status: int, message: str, headers: dict | None = None,
                 limit: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.limit = limit


@dataclass(frozen=True)
class ServerLimits:
    """How much the server accepts; each field is an `edgeprune device serve` option."""

    max_upload_bytes: int = 512 << 20
    max_waiting: int = 4  # requests uploading or queued for the device; disk <= this x upload
    max_connections: int = 32
    max_connections_per_address: int = 8
    header_timeout_s: float = 5.0  # a request's headers must be in within this
    body_timeout_s: float = 10.0  # the longest pause in an upload, and its grace before...
    min_upload_rate: float = 256 << 10  # ...it must average this many bytes per second
    busy_wait_s: float = 60.0  # how long a queued request waits for the device
    max_measure_seconds: float = 300.0  # one measurement's deadline, loading included
    max_memory_bytes: int = 2048 << 20  # the measuring process's memory beyond its runtime's
    max_input_elements: int = 1 << 24  # 16 M values: 64 MB at fp32 (8x3x832x832 fits)
    units_slice_s: float = 60.0  # a POST /units starts no new unit after this (server_units)

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if not (math.isfinite(value) and value > 0):
                raise EdgepruneError(f"server limit {item.name} must be a positive finite "
                                     f"number, got {value}")

    @property
    def max_waiting_per_address(self) -> int:
        """Half the waiting slots (at least one) per client address: one client's stalled
        uploads cannot keep the others from the device."""
        return max(1, math.ceil(self.max_waiting / 2))

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "max_rank": MAX_RANK,
                "max_dimension": MAX_DIMENSION, "protocol_caps": PROTOCOL_CAPS,
                "max_waiting_per_address": self.max_waiting_per_address}


def parse_shape(text: str | None, limits: ServerLimits) -> tuple[int, ...]:
    """`shape=1x3x416x416`, bounded in rank, in each dimension and in its element count."""
    if not text:
        raise RequestRefused(400, "missing query parameter 'shape' (e.g. shape=1x3x416x416)")
    parts = text.lower().split("x")
    if len(parts) > MAX_RANK or not all(p.isascii() and p.isdigit() and len(p) <= 6
                                         for p in parts):
        raise RequestRefused(400, f"shape {text[:40]!r}: expected up to {MAX_RANK} positive "
                                  f"integers joined by 'x', e.g. 1x3x416x416")
    shape = tuple(int(p) for p in parts)
    if any(d < 1 or d > MAX_DIMENSION for d in shape):
        raise RequestRefused(400, f"shape {text}: every dimension must be 1..{MAX_DIMENSION}")
    elements = math.prod(shape)
    if elements > limits.max_input_elements:
        raise RequestRefused(400, f"shape {text}: {elements:,} input values exceed this "
                                  f"server's limit of {limits.max_input_elements:,} "
                                  f"(device serve --max-input-elements)",
                             limit="--max-input-elements")
    return shape


def parse_precision(text: str | None, supported: tuple[str, ...]) -> str:
    precision = text or "fp32"
    if precision not in PRECISIONS or precision not in supported:
        raise RequestRefused(400, f"precision {precision[:20]!r}: this server's backend "
                                  f"measures {', '.join(supported)}")
    return precision


def parse_protocol(fields: dict[str, str], base: Protocol, limits: ServerLimits,
                   interleaved: bool = False) -> Protocol:
    """The protocol a request asks for: `base` with the query's fields, each finite and within
    bounds, the whole fitting the server's deadline."""
    try:
        protocol = base.with_overrides(fields, "query")
    except EdgepruneError as exc:
        raise RequestRefused(400, str(exc)) from None
    for name, cap in PROTOCOL_CAPS.items():
        value = getattr(protocol, name)
        if value > cap:
            raise RequestRefused(400, f"protocol field {name}={value:g} is over this server's "
                                      f"limit of {cap:g}")
    longest = protocol.longest_timing_s(interleaved)
    if longest > limits.max_measure_seconds:
        raise RequestRefused(400, f"this protocol may time for {longest:g} s, over this "
                                  f"server's {limits.max_measure_seconds:g} s per measurement "
                                  f"(device serve --max-measure-seconds, loading included): "
                                  f"{how_to_fit(protocol, limits.max_measure_seconds)}",
                             limit="--max-measure-seconds")
    return protocol


def how_to_fit(protocol: Protocol, seconds: float) -> str:
    """What to ask for so `protocol` fits `seconds` even interleaved (one line)."""
    fitting = _fitting_max_seconds(protocol, seconds)
    if fitting > 0:
        return (f"ask for max_seconds <= {fitting:g} (with max_remeasures="
                f"{protocol.max_remeasures} and warmup_seconds={protocol.warmup_seconds:g}), "
                f"e.g. --protocol max_seconds={fitting:g}")
    return (f"ask for fewer max_remeasures (now {protocol.max_remeasures}) and a shorter "
            f"warmup_seconds (now {protocol.warmup_seconds:g})")


def fitted_protocol(protocol: Protocol, seconds: float) -> Protocol:
    """`protocol` with max_seconds lowered, if need be and if that is enough, so that it fits
    `seconds` even interleaved: what a server with a short deadline measures by when a client
    asks for nothing."""
    fitting = _fitting_max_seconds(protocol, seconds)
    if protocol.longest_timing_s(interleaved=True) <= seconds or fitting <= 0:
        return protocol
    return dataclasses.replace(protocol, max_seconds=fitting)


def _fitting_max_seconds(protocol: Protocol, seconds: float) -> float:
    """The largest max_seconds (in 0.01 s) with which `protocol` fits `seconds` interleaved."""
    attempts = protocol.max_remeasures + 1
    return math.floor((seconds / attempts - protocol.warmup_seconds) / 2 * 100) / 100


def parse_query(items: list[tuple[str, str]]) -> dict[str, str]:
    """The query's fields; a field given twice is refused (which one would count?)."""
    fields: dict[str, str] = {}
    for name, value in items:
        if name in fields:
            raise RequestRefused(400, f"query field {name[:40]!r} is given more than once")
        fields[name] = value
    return fields


def parse_content_length(value: str | None, limits: ServerLimits) -> int | None:
    """The declared body size (None for a chunked upload, bounded while it streams)."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 15:
        raise RequestRefused(400, f"bad Content-Length {value[:20]!r}")
    length = int(value)
    if length == 0:
        raise RequestRefused(400, "empty body: send the ONNX model bytes as the body")
    if length > limits.max_upload_bytes:
        raise RequestRefused(413, f"upload of {length} bytes exceeds the server's limit of "
                                  f"{limits.max_upload_bytes} bytes (device serve "
                                  f"--max-upload-mb)", limit="--max-upload-mb")
    return length
