"""The device server (`edgeprune device serve`): an HTTP server on the robot's computer that owns
its accelerator and measures one model at a time for searches running elsewhere.

API (every request carries `Authorization: Bearer TOKEN`, the scheme in any case; errors are
JSON `{"error": "...", "limit": "<the device serve option that ended it>"}`, `limit` only when
a limit did):

    GET  /info      -> {"edgeprune", "api", "backend", "version", "precisions", "device",
                        "max_upload_bytes", "busy", "waiting", "protocol", "limits",
                        "references"}
    POST /references  body: an ONNX model -> 200 {"id": sha256 of the bytes}
    POST /measure?shape=1x3x416x416&precision=fp16[&reference=ID][&<protocol field>=<value>...]
         body: the ONNX model bytes (Content-Type: application/octet-stream)
                    -> 200 LatencyResult JSON
    POST /units     body: {"cfg", "imgsz", ...} (JSON) -> 200 the base's unit table, built
                    and cached here a slice at a time (server_units.py)

With `reference=ID` (a model stored by POST /references; the server keeps the last
`references` of them, 2) the model is timed interleaved with that reference in one window,
and the result's `reference` entry holds the reference's median and the median ratio: what a
search compares, since a throttling board slows both runs of a pair alike. An unknown ID is a
404; the client then uploads the reference again.

Status codes: 400 bad parameters, a field over the server's bounds (see server_limits.py), a
model that cannot be measured, or one that ran past the deadline, over the memory cap or
crashed its runtime; 401 missing or wrong token; 404/405 unknown path or method; 408 an
upload that stalled or crawled; 413 an upload over the limit; 429 too many requests waiting
(or connections from one address); 503 the device stayed busy, every connection is busy, or
the server is stopping (429 and 503 carry `Retry-After`); 500 the device itself failed. The
server keeps serving after every one of them.

Built on uvicorn + Starlette: uvicorn's h11 parser bounds header size and the request body
reaches the app as a stream, so the upload limits are enforced while it arrives
(server_upload.py) and an upload is never held in memory. The connection caps and the header
deadline are server_http.py's; each model is loaded, checked and timed in a child process
(server_device.py). Uploads go to a private temp folder, bounded by max_waiting x
max_upload_bytes, removed after each request and when the server stops.
"""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgeprune.cache_paths import default_units_cache
from edgeprune.filesets import file_sha256
from edgeprune.latency.cache import LatencyCache
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.server_device import BUSY_RETRY_AFTER, Device
from edgeprune.latency.server_http import (
    TEMP_PREFIX,
    ConnectionBook,
    StoppingServer,
    protocol_class,
    remove_stale_temp_dirs,
)
from edgeprune.latency.server_limits import (
    RequestRefused,
    ServerLimits,
    fitted_protocol,
    parse_content_length,
    parse_precision,
    parse_protocol,
    parse_query,
    parse_shape,
)
from edgeprune.latency.server_units import MAX_UNITS, UnitTables, check_units_length
from edgeprune.latency.server_upload import Body, ClientGone, drain, receive_upload
from edgeprune.latency.tokens import check_token

log = logging.getLogger("edgeprune.server")

API_VERSION = 1  # additions keep it; a change existing clients would misread bumps it
MAX_REFERENCES = 2  # reference models kept for interleaved measurements (disk: 2 x upload)
MAX_HEADER_BYTES = 16 << 10
STOP_POLL_S = 0.1
STOPPING_RETRY_AFTER = "10"
_STOPPED = object()


class DeviceServer:
    """Holds the measuring process, the token, the limits; `serve()` runs until a signal."""

    def __init__(self, backend: str, token: str, host: str = "127.0.0.1", port: int = 8650,
                 *, backend_options: dict | None = None, limits: ServerLimits | None = None,
                 protocol: Protocol | None = None, units_cache: str | Path | None = None
                 ) -> None:
        self.token = check_token(token or "", "the server's token")
        self.limits = limits or ServerLimits()
        # what a request that asks for nothing is measured by: fitted to the deadline
        self.protocol = fitted_protocol(protocol or Protocol(), self.limits.max_measure_seconds)
        cache = LatencyCache(units_cache or default_units_cache())  # first: nothing to undo
        self.waiting: Counter[str] = Counter()  # by client address; event loop thread only
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=128)
        remove_stale_temp_dirs()
        self.temp_dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
        self.device = Device(backend, backend_options, self.limits, self.temp_dir)
        self.units = UnitTables(self.device, cache, self.limits, self.protocol)
        try:
            self.device.start()
        except BaseException:
            self.close()
            raise
        self.references: OrderedDict[str, Path] = OrderedDict()  # id -> stored model
        self.connections = ConnectionBook(self.limits.max_connections,
                                          self.limits.max_connections_per_address)
        self.app = Starlette(
            routes=[Route("/info", self.info_endpoint, methods=["GET"]),
                    Route("/references", self.reference_endpoint, methods=["POST"]),
                    Route("/measure", self.measure_endpoint, methods=["POST"]),
                    Route("/units", self.units_endpoint, methods=["POST"])],
            exception_handlers={HTTPException: self._http_exception})

    @property
    def address(self) -> str:
        host, port = self.socket.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def info(self, backend_info: dict | None = None) -> dict:
        from edgeprune import __version__

        return {"edgeprune": __version__, "api": API_VERSION,
                **(backend_info or self.device.info),
                "max_upload_bytes": self.limits.max_upload_bytes, "busy": self.device.busy,
                "waiting": sum(self.waiting.values()), "protocol": self.protocol.to_json(),
                "limits": {**self.limits.to_json(),
                           "memory_cap": self.device.process.memory_cap},
                "references": MAX_REFERENCES, "units": MAX_UNITS}

    def serve(self) -> None:
        http = protocol_class(self.limits.header_timeout_s, self.connections, self._refusal_app)
        config = uvicorn.Config(
            self.app, http=http, lifespan="off", log_config=None, access_log=False,
            server_header=False, timeout_keep_alive=5, timeout_graceful_shutdown=5,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            StoppingServer(config, self.stopping).run(sockets=[self.socket])
        finally:
            self.close()

    def close(self) -> None:
        self.stopping.set()
        self.socket.close()
        self.device.close()
        self.units.cache.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    # ------------------------------------------------------------------------ endpoints

    async def info_endpoint(self, request: Request) -> Response:
        try:
            self._authorize(request)
        except RequestRefused as exc:
            return _refusal(exc)
        return JSONResponse(self.info(await self.device.fresh_info()))

    async def reference_endpoint(self, request: Request) -> Response:
        """Store a reference model for later interleaved measurements; answers its id."""
        try:
            self._authorize(request)
            length = parse_content_length(request.headers.get("content-length"), self.limits)
            self._check_waiting(request)
        except RequestRefused as exc:
            return await self._refuse_unread(request, exc)
        body = Body(request, self.limits)
        outcome = await self._holding_a_slot(request, lambda: self._upload(body, length))
        if not isinstance(outcome, Path):
            return self._failed(request, outcome)
        reference_id = await anyio.to_thread.run_sync(file_sha256, outcome)
        stored = self.temp_dir / f"reference-{reference_id}.onnx"
        outcome.replace(stored)
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
            query = parse_query(request.query_params.multi_items())
            reference = self._reference(query.pop("reference", None))
            shape = parse_shape(query.pop("shape", None), self.limits)
            precision = parse_precision(query.pop("precision", None),
                                        tuple(self.device.info["precisions"]))
            protocol = parse_protocol(query, self.protocol, self.limits,
                                      interleaved=reference is not None)
            length = parse_content_length(request.headers.get("content-length"), self.limits)
            self._check_waiting(request)
        except RequestRefused as exc:
            log.info("%s refused (%d): %s", _client(request), exc.status, exc)
            return await self._refuse_unread(request, exc)

        body = Body(request, self.limits)

        async def upload_and_measure() -> dict | RequestRefused | None:
            path = await self._upload(body, length)
            if not isinstance(path, Path):
                return path
            job = {"model": str(path), "reference": str(reference) if reference else None,
                   "shape": list(shape), "precision": precision,
                   "protocol": protocol.to_json()}
            try:
                return await self._until_gone(request,
                                              lambda: self.device.measure(job, reference))
            finally:
                path.unlink(missing_ok=True)

        outcome = await self._holding_a_slot(request, upload_and_measure)
        if not isinstance(outcome, dict):
            return self._failed(request, outcome)
        log.info("%s measured %s %s: median %.3f ms over %d runs", _client(request),
                 "x".join(map(str, shape)), precision, outcome["median_ms"], outcome["runs"])
        return JSONResponse(outcome)

    async def units_endpoint(self, request: Request) -> Response:
        """The unit table of a base, or as much of it as one slice times (server_units.py)."""
        try:
            self._authorize(request)
            check_units_length(request.headers.get("content-length"))
            self._check_waiting(request)
        except RequestRefused as exc:
            return await self._refuse_unread(request, exc)

        outcome = await self._holding_a_slot(request, lambda: self.units.answer(
            Body(request, self.limits), lambda work: self._until_gone(request, work)))
        if not isinstance(outcome, dict):
            return self._failed(request, outcome)
        log.info("%s units: %d of %d, %d measured now, %d from the cache", _client(request),
                 outcome["done"], outcome["units"], outcome["measured"], outcome["cached"])
        return JSONResponse(outcome)

    # ------------------------------------------------------------------------ parts

    def _authorize(self, request: Request) -> None:
        # RFC 7235: the scheme is case-insensitive; the token is compared in constant time
        scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
        given = credentials.strip().encode("utf-8", "replace")
        if not (scheme.lower() == "bearer" and hmac.compare_digest(given, self.token.encode())):
            raise RequestRefused(401, "missing or wrong token (send 'Authorization: Bearer "
                                      "TOKEN')", {"WWW-Authenticate": "Bearer"})

    def _check_waiting(self, request: Request) -> None:
        total = sum(self.waiting.values())
        if total >= self.limits.max_waiting:
            raise RequestRefused(429, f"{total} requests are already waiting for the device "
                                      f"(device serve --max-waiting)",
                                 {"Retry-After": BUSY_RETRY_AFTER}, limit="--max-waiting")
        mine = self.waiting[_host(request)]
        if mine >= self.limits.max_waiting_per_address:
            raise RequestRefused(429, f"{mine} requests from this address are already waiting "
                                      f"for the device (half of device serve --max-waiting)",
                                 {"Retry-After": BUSY_RETRY_AFTER}, limit="--max-waiting")

    async def _holding_a_slot(self, request: Request, work: Callable[[], Awaitable]):
        """`work()` holding one of the address's waiting slots; a 503 if the server stops."""
        host = _host(request)
        self.waiting[host] += 1
        try:
            return await self._until_stopping(work)
        finally:
            self.waiting[host] -= 1
            if not self.waiting[host]:
                del self.waiting[host]

    async def _until_stopping(self, work: Callable[[], Awaitable]):
        """`work()`'s outcome, or a 503 once the server is stopping (work is cancelled then:
        a measurement's child is stopped, an upload dropped)."""
        outcome = _STOPPED

        async def run() -> None:
            nonlocal outcome
            outcome = await work()
            group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            while not self.stopping.is_set():
                await anyio.sleep(STOP_POLL_S)
            group.cancel_scope.cancel()
        if outcome is _STOPPED:
            return RequestRefused(503, "the server is stopping; try again when it is back",
                                  {"Retry-After": STOPPING_RETRY_AFTER}, limit="shutdown")
        return outcome

    async def _upload(self, body: Body, length: int | None) -> Path | RequestRefused | None:
        """The upload in the temp folder; a refusal; None when the client went away."""
        try:
            return await receive_upload(body, self.temp_dir, length)
        except RequestRefused as exc:
            if exc.status == 400:  # junk seen in its first bytes: let a small body's client read
                await drain(body)
            return exc
        except ClientGone:
            log.info("%s went away during its upload", _client(body.request))
            return None
        except OSError as exc:  # the temp folder's disk is full or gone: this device's fault
            log.warning("cannot store an upload: %s", exc.strerror or type(exc).__name__)
            return RequestRefused(500, f"the server cannot store the upload "
                                       f"({exc.strerror or type(exc).__name__})")

    async def _until_gone(self, request: Request, work: Callable[[], Awaitable]):
        """`work()`'s outcome; None when the client went away first (its work is then stopped:
        the body is read, so its next message is the hang-up)."""
        outcome = None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            outcome = await work()
            group.cancel_scope.cancel()
        if gone:
            log.info("%s went away; its measurement was stopped", _client(request))
            return None
        return outcome

    def _failed(self, request: Request, outcome: RequestRefused | None) -> Response:
        if outcome is None:  # the client went away (logged where it was noticed)
            return Response(status_code=400)  # nobody reads it
        log.info("%s refused (%d): %s", _client(request), outcome.status, outcome)
        return _refusal(outcome, close=True)

    def _reference(self, reference_id: str | None) -> Path | None:
        if reference_id is None:
            return None
        if reference_id not in self.references:
            raise RequestRefused(404, f"unknown reference {reference_id[:64]!r}: upload it "
                                      f"with POST /references (this server keeps "
                                      f"{MAX_REFERENCES})")
        self.references.move_to_end(reference_id)
        return self.references[reference_id]

    async def _refuse_unread(self, request: Request, exc: RequestRefused) -> Response:
        """Answer before reading the body: a small body is drained so the client gets to read
        the answer, a large one is cut off with the connection."""
        await self._until_stopping(lambda: drain(Body(request, self.limits)))
        return _refusal(exc, close=request.method == "POST")

    def _refusal_app(self, refusal: RequestRefused):
        """The ASGI app of a connection refused by a cap: answers its request with `refusal`."""

        async def app(scope, receive, send) -> None:
            response = await self._refuse_unread(Request(scope, receive), refusal)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)

        return app

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        endpoints = "GET /info, POST /measure, POST /references, POST /units"
        message = {404: f"no such endpoint {request.url.path[:80]} ({endpoints})",
                   405: f"{request.method} is not allowed on {request.url.path[:80]} "
                        f"({endpoints})"}.get(status, str(getattr(exc, "detail", exc)))
        return _refusal(RequestRefused(status, message), close=request.method == "POST")


def _refusal(exc: RequestRefused, close: bool = False) -> JSONResponse:
    headers = dict(exc.headers)
    if close:
        headers["Connection"] = "close"
    body = {"error": str(exc)}
    if exc.limit:
        body["limit"] = exc.limit
    return JSONResponse(body, status_code=exc.status, headers=headers)


def _host(request: Request) -> str:
    return request.client.host if request.client else "?"


def _client(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "?"
