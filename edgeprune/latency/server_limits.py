"""The device server's bounds: what one request may ask of the device, and how the server
protects itself (upload size, waiting requests, connections, timeouts).

Every query field of POST /measure is checked here before the body is read, so a request that
asks for a billion runs or a ten-million-image batch is answered 400 at once and never reaches
the device. The defaults suit a Jetson: a yolov3 at fp32 is 248 MB, a careful measurement of a
slow model on a Nano takes well under a minute.
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

# Upper bounds of the protocol's count fields; `max_seconds` and `warmup_seconds` are bounded
# by ServerLimits.max_measure_seconds instead (one knob for the time a request may hold the
# device).
PROTOCOL_CAPS = {"warmup_runs": 1000, "min_runs": 10000, "max_runs": 10000,
                 "check_every": 10000, "max_remeasures": 5, "drift_every": 10**6, "pair_block": 100,
                 "target_rel_ci": 1.0, "max_cv": 10.0, "drift_tolerance": 10.0}


class RequestRefused(Exception):
    """An HTTP answer other than 200: the status, a message for the client, extra headers."""

    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class ServerLimits:
    """How much the server accepts; each field is an `edgeprune device serve` option."""

    max_upload_bytes: int = 512 << 20
    max_waiting: int = 4  # requests uploading or queued for the device; disk <= this x upload
    max_connections: int = 32
    header_timeout_s: float = 10.0  # a request's headers must be in within this
    body_timeout_s: float = 30.0  # the longest pause while an upload streams in
    busy_wait_s: float = 60.0  # how long a queued request waits for the device
    max_measure_seconds: float = 300.0  # the longest one measurement may hold the device
    max_input_elements: int = 1 << 24  # 16 M values: 64 MB at fp32 (8x3x832x832 fits)

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if not value > 0:
                raise EdgepruneError(f"server limit {item.name} must be positive, got {value}")

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "max_rank": MAX_RANK,
                "max_dimension": MAX_DIMENSION, "protocol_caps": PROTOCOL_CAPS}


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
                                  f"(device serve --max-input-elements)")
    return shape


def parse_precision(text: str | None, supported: tuple[str, ...]) -> str:
    precision = text or "fp32"
    if precision not in PRECISIONS or precision not in supported:
        raise RequestRefused(400, f"precision {precision[:20]!r}: this server's backend "
                                  f"measures {', '.join(supported)}")
    return precision


def parse_protocol(fields: dict[str, str], base: Protocol, limits: ServerLimits) -> Protocol:
    """The protocol a request asks for: `base` with the query's fields, each within bounds."""
    try:
        protocol = base.with_overrides(fields, "query")
    except EdgepruneError as exc:
        raise RequestRefused(400, str(exc)) from None
    caps = {**PROTOCOL_CAPS, "max_seconds": limits.max_measure_seconds,
            "warmup_seconds": limits.max_measure_seconds}
    for name, cap in caps.items():
        value = getattr(protocol, name)
        if value > cap:
            option = (" (device serve --max-measure-seconds)" if name.endswith("seconds")
                      else "")
            raise RequestRefused(400, f"protocol field {name}={value:g} is over this server's "
                                      f"limit of {cap:g}{option}")
    return protocol


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
                                  f"{limits.max_upload_bytes} bytes")
    return length
