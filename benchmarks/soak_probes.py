"""The abusive requests of the device server soak (agent_soak.py): one function per kind, each
on its own socket, answering a Probe: what came back (status, JSON or not, the limit named),
how long it took, and the deadline it had to meet (its limit's own, None when none applies).

Issue 15's kinds: uploads near the limit that start like ONNX, uploads declared over the limit,
fields and shapes over the bounds, a wrong token, fp16 on a CPU backend, a body shorter than its
Content-Length, slowloris headers, a client that goes away mid-measurement. Issue 29's: a
heavy model (20 chained 4096x4096 MatMuls built at run time), its client going away, a 1 GiB
memory bomb, a crawling upload, a huge body that is not ONNX, idle sockets, nan in a field.
"""

from __future__ import annotations

import re
import select
import socket
import time
import urllib.parse
from dataclasses import dataclass

from tests.latency.abuse_helpers import answer, head, heavy_model, memory_bomb

FAST = {"warmup_runs": 3, "warmup_seconds": 0.02, "min_runs": 10, "max_runs": 100,
        "max_seconds": 0.3, "target_rel_ci": 0.05, "max_remeasures": 1, "drift_every": 0}
HEAVY = heavy_model()
BOMB = memory_bomb(1 << 30)


@dataclass
class Probe:
    status: str  # "400", ..., "closed" (by the server, no answer), "went away" (we hung up)
    seconds: float
    json: bool = True
    limit: str | None = None
    deadline: float | None = None  # the limit's own time the answer had to come within (+1 s)
    hung_up_at: float | None = None  # wall clock (time.time()) of our hang-up
    port: int | None = None  # our socket's port, as the server's log names it

    @property
    def outcome(self) -> str:
        if self.status in ("closed", "went away"):
            return self.status
        return self.status + (f" {self.limit}" if self.limit else "") + \
            ("" if self.json else " NOT JSON")


@dataclass
class Target:
    """Where and how the probes send: the server's address and limits."""

    url: str
    token: str
    source: str  # the loopback address this client's abusive sockets come from
    upload_bytes: int
    limit_bytes: int
    header_timeout: float
    body_timeout: float
    min_upload_rate: float
    deadline_s: float

    def connect(self) -> socket.socket:
        parts = urllib.parse.urlsplit(self.url)
        return socket.create_connection((parts.hostname, parts.port), timeout=60,
                                        source_address=(self.source, 0))

    def query(self, **fields) -> str:
        return "/measure?" + urllib.parse.urlencode({"shape": "1x3x64x64", **FAST, **fields})


def exchange(target: Target, request: bytes, hang_up_after: float | None = None) -> Probe:
    """Send `request` on a fresh socket and read the answer (or hang up after some seconds)."""
    began = time.monotonic()
    with target.connect() as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            return Probe("closed", time.monotonic() - began)
        if hang_up_after is not None and not select.select([sock], [], [], hang_up_after)[0]:
            return Probe("went away", time.monotonic() - began, hung_up_at=time.time(),
                         port=sock.getsockname()[1])
        return read_probe(sock, began)


def read_probe(sock: socket.socket, began: float) -> Probe:
    status, payload, headers = answer(sock)
    seconds = time.monotonic() - began
    if status is None:
        return Probe("closed", seconds)
    return Probe(str(status), seconds, json=headers.get("content-type") == "application/json"
                 and "error" in payload, limit=payload.get("limit"),
                 deadline=_stopped_after(payload.get("error", "")))


def _stopped_after(error: str) -> float | None:
    """A deadline refusal says how long the measurement ran (the server's clock)."""
    match = re.search(r"stopped after ([\d.]+) s", error)
    return float(match.group(1)) if match else None


def big_upload(target: Target, model: bytes) -> Probe:
    junk = b"\x08\x08\x3a" + b"\x00" * (target.upload_bytes - 3)  # streamed in full
    return exchange(target, head(target.query(), len(junk), target.token) + junk)


def declared_oversize(target: Target, model: bytes) -> Probe:
    return exchange(target, head(target.query(), target.limit_bytes + 1, target.token)
                    + b"\x08" * 4096)


def fields_over_bounds(target: Target, model: bytes) -> Probe:
    path = "/measure?shape=1x3x64x64&max_seconds=1e9&min_runs=1000000000"
    return exchange(target, head(path, 1, target.token) + b"\x08")


def nan_field(target: Target, model: bytes) -> Probe:
    return exchange(target, head(target.query(max_seconds="nan"), 1, target.token) + b"\x08")


def shape_over_bounds(target: Target, model: bytes) -> Probe:
    return exchange(target, head("/measure?shape=10000000x3x64x64", 1, target.token) + b"\x08")


def wrong_token(target: Target, model: bytes) -> Probe:
    return exchange(target, head(target.query(), len(model), "x" * 20) + model)


def fp16_on_cpu(target: Target, model: bytes) -> Probe:
    return exchange(target, head(target.query(precision="fp16"), len(model), target.token)
                    + model)


def short_body(target: Target, model: bytes) -> Probe:
    probe = exchange(target, head(target.query(), len(model) + 1000, target.token) + model)
    probe.deadline = target.body_timeout
    return probe


def slowloris(target: Target, model: bytes) -> Probe:
    probe = exchange(target, head("/measure", None, target.token)[:-2])  # headers never end
    probe.deadline = target.header_timeout
    return probe


def gone_mid_measure(target: Target, model: bytes) -> Probe:
    """A long measurement that fits the deadline; we hang up after 0.5 s."""
    query = target.query(max_seconds=min(2, target.deadline_s / 3), min_runs=5000,
                         max_runs=5000, max_remeasures=0)
    return exchange(target, head(query, len(model), target.token) + model, hang_up_after=0.5)


def heavy_model_probe(target: Target, model: bytes) -> Probe:
    """Answered 400 when the deadline ends it: `deadline` holds the server's 'stopped after'
    (its clock, from the job's start; the client's time also counts its queueing)."""
    probe = exchange(target, head(target.query(shape="1x1"), len(HEAVY), target.token) + HEAVY)
    if probe.deadline is not None:
        probe.seconds, probe.deadline = probe.deadline, target.deadline_s
    return probe


def heavy_gone(target: Target, model: bytes) -> Probe:
    """A heavy model whose client hangs up after 1 s (inside a run, if it got the device)."""
    return exchange(target, head(target.query(shape="1x1"), len(HEAVY), target.token) + HEAVY,
                    hang_up_after=1.0)


def bomb(target: Target, model: bytes) -> Probe:
    return exchange(target, head(target.query(shape="1x1"), len(BOMB), target.token) + BOMB)


def slow_upload(target: Target, model: bytes) -> Probe:
    """A byte every 0.5 s (each pause under the pause limit) until answered: cut when the
    grace is over, by the minimum rate."""
    began = time.monotonic()
    sent = 3
    with target.connect() as sock:
        sock.sendall(head(target.query(), 100000, target.token) + b"\x08\x08\x3a")
        while not select.select([sock], [], [], 0.5)[0]:
            try:
                sock.sendall(b"\x00")
            except OSError:
                break
            sent += 1
            if time.monotonic() - began > 120:
                return Probe("went away", time.monotonic() - began, hung_up_at=time.time())
        probe = read_probe(sock, began)
    probe.deadline = target.body_timeout + sent / target.min_upload_rate
    return probe


def not_onnx_huge(target: Target, model: bytes) -> Probe:
    """Declares 300 MB (or the upload limit, if lower), sends 64 KiB of a body starting with
    X: refused on its first bytes."""
    began = time.monotonic()
    declared = min(300 << 20, target.limit_bytes)
    with target.connect() as sock:
        sock.sendall(head(target.query(), declared, target.token) + b"X" * 65536)
        probe = read_probe(sock, began)
    probe.deadline = 0.0
    return probe


def idle_sockets(target: Target, model: bytes, count: int = 6) -> Probe:
    """Sockets that never send a byte: all closed by the server within the header timeout
    (or sooner, to make room at a cap)."""
    began = time.monotonic()
    sockets = [target.connect() for _ in range(count)]
    try:
        for sock in sockets:
            remaining = target.header_timeout + 5 - (time.monotonic() - began)
            if not select.select([sock], [], [], max(remaining, 0))[0]:
                return Probe("held", time.monotonic() - began, deadline=target.header_timeout)
            try:
                if sock.recv(1):
                    return Probe("answered", time.monotonic() - began)
            except ConnectionResetError:
                pass
    finally:
        for sock in sockets:
            sock.close()
    return Probe("closed", time.monotonic() - began, deadline=target.header_timeout)


KINDS = {  # kind: (probe, weight in the mix); "valid" is a normal client's measurement
    "valid": (None, 6), "big_upload": (big_upload, 2), "declared_oversize": (declared_oversize, 1),
    "fields_over_bounds": (fields_over_bounds, 1), "nan_field": (nan_field, 1),
    "shape_over_bounds": (shape_over_bounds, 1), "wrong_token": (wrong_token, 1),
    "fp16_on_cpu": (fp16_on_cpu, 1), "short_body": (short_body, 1), "slowloris": (slowloris, 1),
    "gone_mid_measure": (gone_mid_measure, 1), "heavy_model": (heavy_model_probe, 1),
    "heavy_gone": (heavy_gone, 1), "memory_bomb": (bomb, 1), "slow_upload": (slow_upload, 1),
    "not_onnx_huge": (not_onnx_huge, 1), "idle_sockets": (idle_sockets, 1),
}
