"""The device server's transport: uvicorn with a deadline for request headers, connection
caps that idle sockets cannot hold, refusals as JSON, an exit that stops running measurements,
and start-up hygiene (loopback check, stale temp folders)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from edgeprune.atomic import process_alive
from edgeprune.latency.server_limits import RequestRefused

TEMP_PREFIX = "edgeprune-server-"
CAP_RETRY_AFTER = "1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConnectionBook:
    """The server's open connections by client address, and which of them wait for a
    request's headers (new, or kept alive between requests), oldest first.

    At a cap, an idle connection is closed to make room (the address's own first, for its
    cap), so sockets that never send a request cannot hold the server: only connections with
    a request in progress count against a newcomer, and those are bounded by the waiting
    slots. A newcomer with no room is answered JSON with Retry-After."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.members: dict[object, str] = {}  # connection -> client address
        self.by_address: Counter[str] = Counter()
        self.idle: dict[object, None] = {}  # insertion order: oldest first

    def admit(self, connection, address: str) -> RequestRefused | None:
        """Count a new connection; the refusal it must answer, if there is no room for it."""
        refusal = None
        if self.by_address[address] >= self.per_address:
            if not self._evict(lambda other: self.members[other] == address):
                refusal = RequestRefused(
                    429, f"this address has {self.by_address[address]} connections open, "
                         f"this server's limit per address (device serve "
                         f"--max-connections-per-address)", {"Retry-After": CAP_RETRY_AFTER},
                    limit="--max-connections-per-address")
        elif len(self.members) >= self.total and not self._evict(lambda other: True):
            refusal = RequestRefused(
                503, f"all {self.total} connections of this server are busy with requests "
                     f"(device serve --max-connections)", {"Retry-After": CAP_RETRY_AFTER},
                limit="--max-connections")
        self.members[connection] = address
        self.by_address[address] += 1
        self.idle[connection] = None
        return refusal

    def busy(self, connection) -> None:
        self.idle.pop(connection, None)

    def waiting(self, connection) -> None:
        if connection in self.members:
            self.idle[connection] = None

    def forget(self, connection) -> None:
        self.idle.pop(connection, None)
        address = self.members.pop(connection, None)
        if address is not None:
            self.by_address[address] -= 1
            if not self.by_address[address]:
                del self.by_address[address]

    def _evict(self, matches: Callable[[object], bool]) -> bool:
        victim = next((c for c in self.idle if matches(c)), None)
        if victim is None:
            return False
        self.forget(victim)
        victim.evict()
        return True


def protocol_class(header_timeout_s: float, book: ConnectionBook,
                   refusal_app: Callable[[RequestRefused], object]) -> type[H11Protocol]:
    class _Protocol(H11Protocol):
        """uvicorn's h11 protocol with the server's connection caps (`book`), a deadline for
        each request's headers (uvicorn has none: its keep-alive timer stops at the first
        byte, so a slowloris client would hold its socket for ever), and JSON for its own
        refusals (uvicorn's are plain text)."""

        header_timer = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            refusal = book.admit(self, self.client[0] if self.client else "?")
            if refusal is not None:
                self.app = refusal_app(refusal)  # answered, and closed, once its headers are in
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._cancel_header_timer()  # the request's headers are in
                book.busy(self)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (
                    self.cycle is None or self.cycle.response_complete):
                self._arm_header_timer()  # the next request on this connection
                book.waiting(self)

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            book.forget(self)
            super().connection_lost(exc)

        def evict(self) -> None:
            self._cancel_header_timer()
            if not self.transport.is_closing():
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            body = json.dumps({"error": f"malformed HTTP request: {msg}"}).encode()
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=body),
                          h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self.header_timer = self.loop.call_later(header_timeout_s, self.evict)

        def _cancel_header_timer(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

    return _Protocol


class StoppingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig, frame) -> None:
        self.stopping.set()  # a running measurement stops at its next timed run
        super().handle_exit(sig, frame)


def remove_stale_temp_dirs() -> None:
    """Temp folders of servers that were killed (their pid is gone) are removed at start-up."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{TEMP_PREFIX}*-*"):
        pid_text = folder.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and \
                not process_alive(int(pid_text)):
            shutil.rmtree(folder, ignore_errors=True)
