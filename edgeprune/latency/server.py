"""The device server (`edgeprune device serve`): an HTTP server on the robot's computer that owns
its accelerator and measures one model at a time for searches running elsewhere.

API (every request carries `Authorization: Bearer TOKEN`; errors are JSON `{"error": "..."}`):

    GET  /info      -> {"edgeprune", "api", "backend", "version", "precisions", "device",
                        "max_upload_bytes", "busy", "waiting", "protocol", "limits",
                        "references"}
    POST /references  body: an ONNX model -> 200 {"id": sha256 of the bytes}
    POST /measure?shape=1x3x416x416&precision=fp16[&reference=ID][&<protocol field>=<value>...]
         body: the ONNX model bytes (Content-Type: application/octet-stream)
                    -> 200 LatencyResult JSON

With `reference=ID` (a model stored by POST /references; the server keeps the last
`references` of them, 2) the model is timed interleaved with that reference in one window,
and the result's `reference` entry holds the reference's median and the median ratio: what a
search compares, since a throttling board slows both runs of a pair alike. An unknown ID is a
404; the client then uploads the reference again.

Status codes: 400 bad parameters, a field over the server's bounds (see server_limits.py) or a
model that cannot be measured; 401 missing or wrong token; 404/405 unknown path or method; 408
an upload that stalled; 413 an upload over the limit; 429 too many requests already waiting
for the device; 503 busy (the device stayed busy past the wait limit, or the connection cap;
`Retry-After` says when to try again); 500 the device itself failed. The server keeps serving
after every one of them.

Built on uvicorn + Starlette: uvicorn's h11 parser bounds header size, `limit_concurrency` caps
connections, and the request body reaches the app as a stream, so the upload limit is enforced
while it arrives and an upload is never held in memory; only the one model being measured is
read (by the backend, from the file). Uvicorn has no timeout for a request's headers, so
`_Protocol` adds one. Uploads go to a private temp folder, bounded by max_waiting x
max_upload_bytes, removed after each request and when the server stops. A
measurement watches its client: when the client goes away the timing loop stops at its next
run (protocol.stop_checked).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgeprune.errors import EdgepruneError, MeasurementCancelled, ModelRejected
from edgeprune.latency.backends.base import Backend
from edgeprune.latency.protocol import Protocol, stop_checked
from edgeprune.latency.server_http import (
    TEMP_PREFIX,
    StoppingServer,
    protocol_class,
    remove_stale_temp_dirs,
)
from edgeprune.latency.server_limits import (
    RequestRefused,
    ServerLimits,
    parse_content_length,
    parse_precision,
    parse_protocol,
    parse_shape,
)
from edgeprune.latency.tokens import check_token

log = logging.getLogger("edgeprune.server")

API_VERSION = 1  # additions keep it; a change existing clients would misread bumps it
MAX_REFERENCES = 2  # reference models kept for interleaved measurements (disk: 2 x upload)
DRAIN_LIMIT = 8 << 20  # a refused body up to this size is read and dropped, so the client
# sees the answer; a larger one is cut off with the connection
MAX_HEADER_BYTES = 16 << 10
BUSY_RETRY_AFTER = "5"
# Protobuf writes fields in number order and ModelProto's field 1 is ir_version (a varint):
# every ONNX file starts with the tag 0x08, so junk is refused without being read into memory.
ONNX_FIRST_BYTE = b"\x08"


class ClientGone(Exception):
    """The client closed its connection."""


class DeviceServer:
    """Holds the backend, the token, the limits and the one-at-a-time lock; `serve()` runs."""

    def __init__(self, backend: Backend, token: str, host: str = "127.0.0.1",
                 port: int = 8650, *, limits: ServerLimits | None = None,
                 protocol: Protocol | None = None) -> None:
        self.token = check_token(token or "", "the server's token")
        self.backend = backend
        self.limits = limits or ServerLimits()
        self.protocol = protocol or Protocol()
        self.device_lock = anyio.Lock()
        self.waiting = 0  # touched only on the event loop's thread
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=128)
        remove_stale_temp_dirs()
        self.temp_dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
        self.references: OrderedDict[str, Path] = OrderedDict()  # id -> stored model
        self.app = Starlette(
            routes=[Route("/info", self.info_endpoint, methods=["GET"]),
                    Route("/references", self.reference_endpoint, methods=["POST"]),
                    Route("/measure", self.measure_endpoint, methods=["POST"])],
            exception_handlers={HTTPException: self._http_exception})

    @property
    def address(self) -> str:
        host, port = self.socket.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def info(self) -> dict:
        from edgeprune import __version__

        return {"edgeprune": __version__, "api": API_VERSION, **self.backend.info(),
                "max_upload_bytes": self.limits.max_upload_bytes,
                "busy": self.device_lock.locked(), "waiting": self.waiting,
                "protocol": self.protocol.to_json(), "limits": self.limits.to_json(),
                "references": MAX_REFERENCES}

    def serve(self) -> None:
        config = uvicorn.Config(
            self.app, http=protocol_class(self.limits.header_timeout_s), lifespan="off",
            log_config=None, access_log=False, server_header=False,
            limit_concurrency=self.limits.max_connections, timeout_keep_alive=5,
            timeout_graceful_shutdown=5, h11_max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            StoppingServer(config, self.stopping).run(sockets=[self.socket])
        finally:
            self.close()

    def close(self) -> None:
        self.stopping.set()
        self.socket.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.backend.close()

    # ------------------------------------------------------------------------ endpoints

    async def info_endpoint(self, request: Request) -> Response:
        try:
            self._authorize(request)
        except RequestRefused as exc:
            return _refusal(exc)
        return JSONResponse(self.info())

    async def reference_endpoint(self, request: Request) -> Response:
        """Store a reference model for later interleaved measurements; answers its id."""
        try:
            self._authorize(request)
            length = parse_content_length(request.headers.get("content-length"), self.limits)
            if self.waiting >= self.limits.max_waiting:
                raise RequestRefused(429, f"{self.waiting} requests are already waiting for "
                                          f"the device", {"Retry-After": BUSY_RETRY_AFTER})
        except RequestRefused as exc:
            return await self._refuse_unread(request, exc)
        self.waiting += 1
        try:
            path = await self._receive_upload(request, length)
        except RequestRefused as exc:
            return _refusal(exc, close=True)
        except ClientGone:
            return Response(status_code=400)
        finally:
            self.waiting -= 1
        digest = hashlib.sha256()
        with path.open("rb") as upload:
            for block in iter(lambda: upload.read(1 << 20), b""):
                digest.update(block)
        reference_id = digest.hexdigest()
        stored = self.temp_dir / f"reference-{reference_id}.onnx"
        path.replace(stored)
        self.references[reference_id] = stored
        self.references.move_to_end(reference_id)
        while len(self.references) > MAX_REFERENCES:
            _, old = self.references.popitem(last=False)
            old.unlink(missing_ok=True)
        log.info("%s stored reference %s", _client(request), reference_id[:12])
        return JSONResponse({"id": reference_id})

    async def measure_endpoint(self, request: Request) -> Response:
        try:
            self._authorize(request)
            query = dict(request.query_params)
            reference = self._reference(query.pop("reference", None))
            shape = parse_shape(query.pop("shape", None), self.limits)
            precision = parse_precision(query.pop("precision", None), self.backend.precisions)
            protocol = parse_protocol(query, self.protocol, self.limits)
            length = parse_content_length(request.headers.get("content-length"), self.limits)
            if self.waiting >= self.limits.max_waiting:
                raise RequestRefused(429, f"{self.waiting} requests are already waiting for "
                                          f"the device", {"Retry-After": BUSY_RETRY_AFTER})
        except RequestRefused as exc:
            log.info("%s refused (%d): %s", _client(request), exc.status, exc)
            return await self._refuse_unread(request, exc)
        self.waiting += 1
        try:
            path = await self._receive_upload(request, length)
            try:
                outcome = await self._measure_when_free(request, path, shape, precision,
                                                        protocol, reference)
            finally:
                path.unlink(missing_ok=True)
        except RequestRefused as exc:
            log.info("%s refused (%d): %s", _client(request), exc.status, exc)
            return _refusal(exc, close=True)
        except ClientGone:
            log.info("%s went away during its upload", _client(request))
            return Response(status_code=400)
        except OSError as exc:  # the temp folder's disk is full or gone: this device's fault
            log.warning("cannot store an upload: %s", exc)
            return _refusal(RequestRefused(500, f"the server cannot store the upload "
                                                f"({exc.strerror or exc})"), close=True)
        finally:
            self.waiting -= 1
        if isinstance(outcome, RequestRefused):
            return _refusal(outcome)
        if outcome is None:
            log.info("%s went away; its measurement was cancelled", _client(request))
            return Response(status_code=400)  # nobody reads it
        log.info("%s measured %s %s: median %.3f ms over %d runs", _client(request),
                 "x".join(map(str, shape)), precision, outcome["median_ms"], outcome["runs"])
        return JSONResponse(outcome)

    # ------------------------------------------------------------------------ parts

    def _authorize(self, request: Request) -> None:
        expected = f"Bearer {self.token}".encode()
        given = request.headers.get("authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            raise RequestRefused(401, "missing or wrong token (send 'Authorization: Bearer "
                                      "TOKEN')", {"WWW-Authenticate": "Bearer"})

    async def _refuse_unread(self, request: Request, exc: RequestRefused) -> Response:
        """Answer before reading the body: a small body is drained so the client gets to read
        the answer, a large one is cut off with the connection."""
        length = request.headers.get("content-length", "")
        if request.method != "POST" or (length.isdigit() and int(length) > DRAIN_LIMIT):
            return _refusal(exc, close=True)
        with contextlib.suppress(ClientGone, RequestRefused):
            drained = 0
            async for chunk in self._body_chunks(request):
                drained += len(chunk)
                if drained > DRAIN_LIMIT:
                    break
        return _refusal(exc, close=True)

    async def _body_chunks(self, request: Request):
        """The body as it arrives; a pause longer than body_timeout_s is a 408."""
        while True:
            with anyio.move_on_after(self.limits.body_timeout_s) as waited:
                message = await request.receive()
            if waited.cancelled_caught:
                raise RequestRefused(408, f"the upload stalled for more than "
                                          f"{self.limits.body_timeout_s:g} s")
            if message["type"] == "http.disconnect":
                raise ClientGone
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    async def _receive_upload(self, request: Request, length: int | None) -> Path:
        """Stream the body into the temp folder, counting it against the upload limit."""
        limit = self.limits.max_upload_bytes
        handle, name = tempfile.mkstemp(suffix=".onnx", dir=self.temp_dir)
        path = Path(name)
        received = 0
        try:
            with os.fdopen(handle, "wb") as out:
                async for chunk in self._body_chunks(request):
                    received += len(chunk)
                    if received > limit:
                        raise RequestRefused(413, f"upload exceeds the server's limit of "
                                                  f"{limit} bytes")
                    out.write(chunk)
            if received == 0:
                raise RequestRefused(400, "empty body: send the ONNX model bytes as the body")
            if length is not None and received != length:
                raise RequestRefused(400, f"the upload ended after {received} of {length} "
                                          f"bytes")
            with path.open("rb") as upload:
                if upload.read(1) != ONNX_FIRST_BYTE:
                    raise RequestRefused(400, "cannot load the model: the upload is not an "
                                              "ONNX file (ModelProto starts with ir_version)")
            return path
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _reference(self, reference_id: str | None) -> Path | None:
        if reference_id is None:
            return None
        if reference_id not in self.references:
            raise RequestRefused(404, f"unknown reference {reference_id[:64]!r}: upload it "
                                      f"with POST /references (this server keeps "
                                      f"{MAX_REFERENCES})")
        self.references.move_to_end(reference_id)
        return self.references[reference_id]

    async def _measure_when_free(self, request: Request, path: Path, shape, precision,
                                 protocol, reference: Path | None = None
                                 ) -> dict | RequestRefused | None:
        """Wait for the device, then measure in a worker thread; None when the client went
        away (the measurement then stops at its next timed run)."""
        gone = threading.Event()
        outcome: dict | RequestRefused | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_disconnect, request, gone, group.cancel_scope)
            with anyio.move_on_after(self.limits.busy_wait_s) as waited:
                await self.device_lock.acquire()
            if waited.cancelled_caught:
                outcome = RequestRefused(503, f"the device stayed busy for "
                                              f"{self.limits.busy_wait_s:g} s with another "
                                              f"measurement", {"Retry-After": BUSY_RETRY_AFTER})
            else:
                try:
                    outcome = await anyio.to_thread.run_sync(
                        self._measure_blocking, path, shape, precision, protocol, gone,
                        reference)
                finally:
                    self.device_lock.release()
            group.cancel_scope.cancel()
        return None if gone.is_set() else outcome

    def _measure_blocking(self, path: Path, shape, precision: str, protocol: Protocol,
                          gone: threading.Event, reference: Path | None = None
                          ) -> dict | RequestRefused:
        limit_s = self.limits.max_measure_seconds
        started: list[float] = []

        def check() -> None:
            if gone.is_set():
                raise MeasurementCancelled("the client went away")
            if self.stopping.is_set():
                raise MeasurementCancelled("the server is stopping")
            now = time.monotonic()
            if not started:  # the clock starts at the first run, after any engine build
                started.append(now)
            if now - started[0] > limit_s:
                raise MeasurementCancelled(f"the measurement ran past this server's limit of "
                                           f"{limit_s:g} s (device serve --max-measure-seconds);"
                                           f" ask for fewer or shorter runs")

        try:  # the backend reads the file: at most the one model holding the device in memory
            with stop_checked(check):
                if reference is not None:
                    return self.backend.measure_interleaved(path, reference, shape, precision,
                                                            protocol).to_json()
                return self.backend.measure(path, shape, precision, protocol).to_json()
        except ModelRejected as exc:
            return RequestRefused(400, str(exc))
        except MeasurementCancelled as exc:
            status = 503 if self.stopping.is_set() else 400
            return RequestRefused(status, str(exc))
        except EdgepruneError as exc:
            log.warning("the device failed: %s", exc)
            return RequestRefused(500, str(exc))
        except Exception as exc:  # the server must survive anything a model does to a backend
            log.exception("measurement crashed")
            return RequestRefused(500, f"internal error: {type(exc).__name__}: {exc}")

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        endpoints = "GET /info, POST /measure, POST /references"
        message = {404: f"no such endpoint {request.url.path} ({endpoints})",
                   405: f"{request.method} is not allowed on {request.url.path} "
                        f"({endpoints})"}.get(status, str(getattr(exc, "detail", exc)))
        return _refusal(RequestRefused(status, message), close=request.method == "POST")


async def _watch_disconnect(request: Request, gone: threading.Event, scope) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            gone.set()
            scope.cancel()
            return


def _refusal(exc: RequestRefused, close: bool = False) -> JSONResponse:
    headers = dict(exc.headers)
    if close:
        headers["Connection"] = "close"
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)


def _client(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "?"
