"""The device agent: an HTTP server on the robot's computer that owns its accelerator and
measures one model at a time for searches running elsewhere.

API (every request carries `Authorization: Bearer TOKEN`; errors are JSON `{"error": "..."}`):

    GET  /info      -> {"edgeprune", "backend", "version", "precisions", "device",
                        "max_upload_bytes", "busy", "protocol"}
    POST /measure?shape=1x3x416x416&precision=fp16[&<protocol field>=<value>...]
         body: the ONNX model bytes (Content-Type: application/octet-stream)
                    -> 200 LatencyResult JSON

Status codes: 400 bad parameters or a model that cannot be measured (the agent keeps
serving), 401 missing or wrong token, 404 unknown path, 411 no Content-Length, 413 upload
over the limit, 503 busy (another measurement held the device longer than the wait limit;
`Retry-After` says when to try again), 500 the device failed.

Uploads are streamed into a private temporary folder, removed after each request and when
the agent stops. The token is compared in constant time. The agent keeps no latency cache:
clients cache (keyed by this device's identity), and a drift check must really measure.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import os
import shutil
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.latency.backends.base import Backend, ModelRejected
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import check_precision

log = logging.getLogger("edgeprune.agent")

DEFAULT_MAX_UPLOAD = 512 << 20  # yolov3 at fp32 is 248 MB
DRAIN_FACTOR = 4
CHUNK = 1 << 20
TEMP_PREFIX = "edgeprune-agent-"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestFailed(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class DeviceAgent:
    """Holds the backend, the token and the one-at-a-time lock; `serve()` runs the server."""

    def __init__(self, backend: Backend, token: str, host: str = "127.0.0.1",
                 port: int = 8650, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
                 busy_wait_s: float = 60.0, max_waiting: int = 8,
                 request_timeout_s: float = 60.0, protocol: Protocol | None = None) -> None:
        if not token:
            raise EdgepruneError("the agent needs a token (--token or EDGEPRUNE_AGENT_TOKEN): "
                                 "it runs any model it is sent on this device")
        self.backend = backend
        self.token = token
        self.max_upload_bytes = max_upload_bytes
        self.busy_wait_s = busy_wait_s
        self.protocol = protocol or Protocol()
        self.device_lock = threading.Lock()
        self.waiting = threading.BoundedSemaphore(max_waiting)
        self.request_timeout_s = request_timeout_s
        handler = type("Handler", (AgentHandler,), {"agent": self,
                                                     "timeout": request_timeout_s})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        remove_stale_temp_dirs()
        self.temp_dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def info(self) -> dict:
        from edgeprune import __version__

        return {"edgeprune": __version__, **self.backend.info(),
                "max_upload_bytes": self.max_upload_bytes, "busy": self.device_lock.locked(),
                "protocol": self.protocol.to_json()}

    def serve(self) -> None:
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self.close()

    def close(self) -> None:
        self.server.server_close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.backend.close()

    def authorized(self, header: str | None) -> bool:
        expected = f"Bearer {self.token}".encode()
        return hmac.compare_digest((header or "").encode(), expected)

    def measure(self, model_path: Path, query: dict[str, str]) -> dict:
        shape, precision, protocol = self.parse_query(query)
        model_bytes = model_path.read_bytes()
        if not self.waiting.acquire(blocking=False):
            raise RequestFailed(503, "too many requests are waiting for the device",
                                {"Retry-After": "5"})
        try:
            if not self.device_lock.acquire(timeout=self.busy_wait_s):
                raise RequestFailed(503, f"the device stayed busy for {self.busy_wait_s:g} s "
                                         f"with another measurement", {"Retry-After": "5"})
        finally:
            self.waiting.release()
        try:
            return self.backend.measure(model_bytes, shape, precision, protocol).to_json()
        finally:
            self.device_lock.release()

    def parse_query(self, query: dict[str, str]) -> tuple[tuple[int, ...], str, Protocol]:
        values = dict(query)
        if "shape" not in values:
            raise RequestFailed(400, "missing query parameter 'shape' (e.g. shape=1x3x416x416)")
        try:
            shape = tuple(int(d) for d in values.pop("shape").lower().split("x"))
        except ValueError:
            raise RequestFailed(400, "shape: expected integers joined by 'x', e.g. "
                                     "1x3x416x416") from None
        try:
            precision = check_precision(values.pop("precision", "fp32"))
            protocol = self.protocol.with_overrides(values, "query")
        except EdgepruneError as exc:
            raise RequestFailed(400, str(exc)) from None
        return shape, precision, protocol


class AgentHandler(BaseHTTPRequestHandler):
    agent: DeviceAgent
    server_version = "edgeprune-agent"

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def fail(self, status: int, message: str, headers: dict | None = None) -> None:
        self.send_json(status, {"error": message}, headers)

    def check_token(self) -> bool:
        if self.agent.authorized(self.headers.get("Authorization")):
            return True
        self.fail(401, "missing or wrong token (send 'Authorization: Bearer TOKEN')",
                  {"WWW-Authenticate": "Bearer"})
        return False

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if not self.check_token():
            return
        if path == "/info":
            self.send_json(200, self.agent.info())
        else:
            self.fail(404, f"no such endpoint {path} (GET /info, POST /measure)")

    def do_POST(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        if not self.check_token():
            self._drain()
            return
        if parts.path != "/measure":
            self._drain()
            self.fail(404, f"no such endpoint {parts.path} (GET /info, POST /measure)")
            return
        try:
            query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True,
                                                strict_parsing=False))
            with self._upload() as model_path:
                result = self.agent.measure(model_path, query)
        except RequestFailed as exc:
            self.fail(exc.status, str(exc), exc.headers)
            return
        except ModelRejected as exc:
            log.info("rejected a model: %s", exc)
            self.fail(400, str(exc))
            return
        except EdgepruneError as exc:
            log.warning("measurement failed: %s", exc)
            self.fail(500, str(exc))
            return
        except Exception as exc:  # the agent must survive anything a model does to a backend
            log.exception("measurement crashed")
            self.fail(500, f"internal error: {type(exc).__name__}: {exc}")
            return
        self.send_json(200, result)

    @contextlib.contextmanager
    def _upload(self):
        """Stream the body into the agent's temp folder; yields the file, then deletes it."""
        length = self._content_length()
        if length > self.agent.max_upload_bytes:
            self._drain()
            raise RequestFailed(413, f"upload of {length} bytes exceeds the agent's limit of "
                                     f"{self.agent.max_upload_bytes} bytes")
        handle, name = tempfile.mkstemp(suffix=".onnx", dir=self.agent.temp_dir)
        path = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                remaining = length
                while remaining:
                    chunk = self.rfile.read(min(CHUNK, remaining))
                    if not chunk:
                        raise RequestFailed(400, f"the upload ended after {length - remaining}"
                                                 f" of {length} bytes")
                    out.write(chunk)
                    remaining -= len(chunk)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _content_length(self) -> int:
        value = self.headers.get("Content-Length")
        if value is None:
            raise RequestFailed(411, "Content-Length is required (send the model as the body)")
        try:
            length = int(value)
        except ValueError:
            raise RequestFailed(400, f"bad Content-Length {value!r}") from None
        if length <= 0:
            raise RequestFailed(400, "empty body: send the ONNX model bytes as the body")
        return length

    def _drain(self) -> None:
        """Read and drop a refused body so the client gets to read our answer; a body over
        DRAIN_FACTOR x the upload limit is cut off instead (the client sees a reset)."""
        try:
            remaining = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            remaining = 0
        if remaining > self.agent.max_upload_bytes * DRAIN_FACTOR:
            self.close_connection = True
            return
        with contextlib.suppress(OSError):
            while remaining > 0:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)


def remove_stale_temp_dirs() -> None:
    """Temp folders of agents that were killed (their pid is gone) are removed at start-up."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{TEMP_PREFIX}*-*"):
        pid_text = folder.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's live agent
