"""The device server's transport: uvicorn with a deadline for request headers, an exit that
stops a running measurement, and start-up hygiene (loopback check, stale temp folders)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
import threading
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from edgeprune.atomic import process_alive

TEMP_PREFIX = "edgeprune-server-"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def protocol_class(header_timeout_s: float) -> type[H11Protocol]:
    class _Protocol(H11Protocol):
        """uvicorn's h11 protocol with a deadline for each request's headers: uvicorn has
        none (its keep-alive timer stops at the first byte), so a slowloris client that
        never finishes its headers would hold its socket forever."""

        header_timer = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._cancel_header_timer()  # the request's headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (
                    self.cycle is None or self.cycle.response_complete):
                self._arm_header_timer()  # the next request on this connection

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self.header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _cancel_header_timer(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _headers_late(self) -> None:
            self.header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

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
