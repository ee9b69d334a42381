"""HTTP client of the device server (`edgeprune device serve`): GET /info, POST /measure,
POST /references and POST /units.

The wire format is documented in server.py. Built on httpx: its transport retries refused
connections with exponential backoff; this client also retries a connection dropped mid-request
(the same number of times) and busy answers (429 too many waiting, 503 device busy) for up to
`busy_retry_s`, honouring Retry-After. It never waits without a timeout and always gives up
with an EdgepruneError that says what happened.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import httpx

from edgeprune.errors import EdgepruneError, ModelRejected
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import LatencyResult
from edgeprune.latency.tokens import TOKEN_ENV, client_token

DEFAULT_PORT = 8650
MAX_RETRY_AFTER_S = 30.0


def normalize_url(url: str) -> str:
    """'http://host:port' without a trailing slash; the port defaults to 8650."""
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if parsed.scheme not in ("http", "https") or not parsed.hostname or port == -1 or \
            parsed.path.strip("/") or parsed.query:
        raise EdgepruneError(f"server address {url!r}: expected http://HOST:PORT")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{parsed.scheme}://{host}:{port or DEFAULT_PORT}"


class ServerClient:
    """Talks to one device server. `timeout_s` bounds every socket wait (connect, send, each
    read): it must cover the longest measurement, a TensorRT engine build included."""

    def __init__(self, url: str, token: str | None = None, *, token_file: str | None = None,
                 timeout_s: float = 900.0, retries: int = 3, backoff_s: float = 0.5,
                 busy_retry_s: float = 600.0) -> None:
        self.url = normalize_url(url)
        self.token = client_token(token, token_file)
        if not self.token:
            raise EdgepruneError(f"the server at {self.url} needs its token: pass --token, "
                                 f"--token-file or set {TOKEN_ENV} (or register the device: "
                                 f"edgeprune device add)")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.busy_retry_s = busy_retry_s
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=httpx.HTTPTransport(retries=retries), trust_env=False)

    def info(self) -> dict:
        payload = self._request("GET", "/info")
        try:
            info = json.loads(payload)
        except ValueError:
            info = None
        if not isinstance(info, dict) or not {"backend", "version", "device"} <= set(info):
            raise EdgepruneError(f"{self.url} does not answer like an edgeprune device server "
                                 f"(GET /info gave {payload[:80]!r})")
        return info

    def measure(self, model_bytes: bytes, input_shape: tuple[int, ...], precision: str,
                protocol: Protocol | None = None,
                reference: str | None = None) -> LatencyResult:
        """POST /measure; with `reference` (an id from `upload_reference`) the model is timed
        interleaved with that reference on the device."""
        query = {"shape": "x".join(str(d) for d in input_shape), "precision": precision}
        if reference is not None:
            query["reference"] = reference
        if protocol is not None:
            query.update({k: str(v) for k, v in protocol.to_json().items()})
        return LatencyResult.loads(self._request("POST", "/measure", query, model_bytes))

    def upload_reference(self, model_bytes: bytes) -> str:
        """Store a reference model on the server (POST /references); returns its id."""
        payload = self._request("POST", "/references", body=model_bytes)
        try:
            return str(json.loads(payload)["id"])
        except (ValueError, KeyError, TypeError):
            raise EdgepruneError(f"the server at {self.url} answered POST /references with "
                                 f"{payload[:80]!r}") from None

    def units(self, request: dict) -> dict:
        """POST /units: one slice of a base's unit table (server_units.py has the fields)."""
        payload = self._request("POST", "/units", body=json.dumps(request).encode(),
                                content_type="application/json")
        try:
            answer = json.loads(payload)
            if not isinstance(answer, dict) or answer["complete"] not in (True, False):
                raise ValueError
            done, units = int(answer["done"]), int(answer["units"])
        except (ValueError, KeyError, TypeError):
            raise EdgepruneError(f"the server at {self.url} answered POST /units with "
                                 f"{payload[:80]!r}") from None
        return {**answer, "done": done, "units": units}

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, params: dict | None = None,
                 body: bytes | None = None,
                 content_type: str = "application/octet-stream") -> bytes:
        headers = {"Content-Type": content_type} if body is not None else {}
        dropped = 0
        started = time.monotonic()
        while True:
            try:
                response = self.http.request(method, path, params=params, content=body,
                                             headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise self._unreachable(exc, dropped + 1) from None
            except httpx.TimeoutException:
                raise EdgepruneError(f"the server at {self.url} did not answer {method} {path} "
                                     f"within {self.timeout_s:g} s") from None
            except httpx.TransportError as exc:  # dropped mid-request: the server restarted?
                if dropped >= self.retries:
                    raise self._unreachable(exc, dropped + 1) from None
                time.sleep(self.backoff_s * 2 ** dropped)
                dropped += 1
                continue
            if response.status_code in (429, 503):
                wait = _retry_after(response, self.backoff_s)
                if time.monotonic() - started + wait <= self.busy_retry_s:
                    time.sleep(wait)
                    continue
            if response.status_code >= 400:
                raise self._http_error(response.status_code, _error_message(response))
            return response.content

    def _unreachable(self, exc: Exception, tries: int) -> EdgepruneError:
        return EdgepruneError(
            f"the server at {self.url} is unreachable or dropped the connection "
            f"({type(exc).__name__}: {exc}) after {tries} tries; is `edgeprune device serve` "
            f"running there?")

    def _http_error(self, code: int, message: str) -> EdgepruneError:
        if code == 401:
            return EdgepruneError(f"the server at {self.url} refused the token (401): use the "
                                  f"token it was started with (--token-file, --token or "
                                  f"{TOKEN_ENV})")
        if code == 400:
            return ModelRejected(f"the server at {self.url} rejected the request: {message}")
        if code == 404:
            return UnknownReference(f"the server at {self.url} answered 404: {message}")
        if code == 413:
            return EdgepruneError(f"the server at {self.url} refused the upload (413): "
                                  f"{message}")
        if code in (429, 503):
            return EdgepruneError(f"the server at {self.url} stayed busy for "
                                  f"{self.busy_retry_s:g} s: {message}")
        return EdgepruneError(f"the server at {self.url} answered {code}: {message}")


class UnknownReference(EdgepruneError):
    """The server does not hold the reference model asked for (restarted, or evicted it)."""


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500] or response.reason_phrase


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(response.headers.get("Retry-After",
                                                                           default))))
    except (TypeError, ValueError):
        return default
