"""HTTP client of the device agent (`edgeprune agent serve`): /info and /measure.

The agent's wire format is documented in agent.py. The client retries refused or dropped
connections and busy answers with exponential backoff, and always gives up with an
EdgepruneError that says what happened; it never waits without a timeout.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from edgeprune.errors import EdgepruneError
from edgeprune.latency.backends.base import ModelRejected
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import LatencyResult

TOKEN_ENV = "EDGEPRUNE_AGENT_TOKEN"
DEFAULT_PORT = 8650


def agent_token(token: str | None = None) -> str | None:
    """The agent token: the given one, else $EDGEPRUNE_AGENT_TOKEN."""
    return token or os.environ.get(TOKEN_ENV) or None


def normalize_url(url: str) -> str:
    """'http://host:port' without a trailing slash; the port defaults to 8650."""
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise EdgepruneError(f"agent address {url!r}: expected http://HOST:PORT")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{parsed.scheme}://{host}:{parsed.port or DEFAULT_PORT}"


class AgentClient:
    """Talks to one agent. `timeout_s` bounds every socket wait (connect, send, each read):
    it must cover the longest measurement, a TensorRT engine build included."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 900.0,
                 retries: int = 3, backoff_s: float = 0.5) -> None:
        self.url = normalize_url(url)
        self.token = agent_token(token)
        if not self.token:
            raise EdgepruneError(f"the agent at {self.url} needs its token: pass --token or set "
                                 f"{TOKEN_ENV}")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    def info(self) -> dict:
        payload = self._request("GET", "/info")
        try:
            info = json.loads(payload)
        except ValueError:
            info = None
        if not isinstance(info, dict) or not {"backend", "version", "device"} <= set(info):
            raise EdgepruneError(f"{self.url} does not answer like an edgeprune agent "
                                 f"(GET /info gave {payload[:80]!r})")
        return info

    def measure(self, model_bytes: bytes, input_shape: tuple[int, ...], precision: str,
                protocol: Protocol | None = None) -> LatencyResult:
        query = {"shape": "x".join(str(d) for d in input_shape), "precision": precision}
        if protocol is not None:
            query.update({k: str(v) for k, v in protocol.to_json().items()})
        path = "/measure?" + urllib.parse.urlencode(query)
        return LatencyResult.loads(self._request("POST", path, model_bytes))

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        attempt = 0
        while True:
            request = urllib.request.Request(self.url + path, data=body, method=method,
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                message = _error_message(exc)
                if exc.code == 503 and attempt < self.retries:
                    retry_after = _retry_after(exc, self.backoff_s * 2 ** attempt)
                    attempt += 1
                    time.sleep(retry_after)
                    continue
                raise self._http_error(exc.code, message) from None
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    TimeoutError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError):
                    raise EdgepruneError(f"the agent at {self.url} did not answer {method} "
                                         f"{path.split('?')[0]} within {self.timeout_s:g} s")\
                        from None
                if attempt < self.retries:
                    time.sleep(self.backoff_s * 2 ** attempt)
                    attempt += 1
                    continue
                raise EdgepruneError(
                    f"the agent at {self.url} is unreachable or dropped the connection "
                    f"({_describe(reason)}) after {attempt + 1} tries; is `edgeprune agent "
                    f"serve` running there?") from None

    def _http_error(self, code: int, message: str) -> EdgepruneError:
        if code == 401:
            return EdgepruneError(f"the agent at {self.url} refused the token (401): use the "
                                  f"token it was started with (--token or {TOKEN_ENV})")
        if code == 400:
            return ModelRejected(f"the agent at {self.url} rejected the request: {message}")
        if code == 413:
            return EdgepruneError(f"the agent at {self.url} refused the upload (413): {message}")
        if code == 503:
            return EdgepruneError(f"the agent at {self.url} stayed busy: {message}")
        return EdgepruneError(f"the agent at {self.url} answered {code}: {message}")


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        payload = exc.read()
    except (OSError, http.client.HTTPException):
        return exc.reason or ""
    try:
        return str(json.loads(payload)["error"])
    except (ValueError, KeyError, TypeError):
        return payload.decode("utf-8", "replace")[:500] or str(exc.reason)


def _retry_after(exc: urllib.error.HTTPError, default: float) -> float:
    try:
        return min(30.0, max(0.0, float(exc.headers.get("Retry-After", default))))
    except (TypeError, ValueError):
        return default


def _describe(reason) -> str:
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
    return str(reason)
