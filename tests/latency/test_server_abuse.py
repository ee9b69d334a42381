"""The abuse probes of issue 15 against a real server on 127.0.0.1, each bounded in count and
time: every one asserts the server's answer (a 4xx, or the connection closed by a limit) and
that it keeps serving. The soak (benchmarks/agent_soak.py) runs them mixed, for minutes."""

import socket
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from edgeprune.latency import Protocol
from edgeprune.latency.client import ServerClient
from tests.latency.latency_helpers import FAST, TOKEN, ServerProcess, raw_request, wait_until

UPLOAD_LIMIT_MB = 48
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 12


@pytest.fixture(scope="module")
def server():
    process = ServerProcess("--max-upload-mb", str(UPLOAD_LIMIT_MB), "--max-waiting", "2",
                           "--max-connections", str(MAX_CONNECTIONS),
                           "--header-timeout", str(HEADER_TIMEOUT),
                           "--body-timeout", str(BODY_TIMEOUT), "--busy-wait", "20",
                           "--max-measure-seconds", "20", "--max-input-elements", "1000000")
    yield process
    log = process.log_text()
    process.stop()
    assert "Traceback" not in log, log  # zero tracebacks across every probe of the module


def _serving(server) -> bool:
    return raw_request(server.url, "GET", "/info")[0] == 200


def _connect(server) -> socket.socket:
    parts = urllib.parse.urlsplit(server.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _head(path: str, length: int | None = None, token: str = TOKEN) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(sock: socket.socket) -> int | None:
    """The status of the answer on `sock`, None when the server closed it without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return int(data.split()[1]) if data.startswith(b"HTTP/1.1") else None


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_parallel_big_uploads_stay_on_disk_not_in_memory(server):
    """4 parallel uploads of 40 MB (the old server held each whole in memory): the peak RSS
    grows by less than two uploads' size."""
    raw_request(server.url, "POST", "/measure?shape=1x3x64x64", b"\x08\x08")  # loads ORT
    before = _peak_rss_mb(server.pid)
    body = b"\x08\x08" + b"\x00" * (40 << 20)
    answers: list[int] = []

    def upload() -> None:
        try:
            answers.append(raw_request(server.url, "POST", "/measure?shape=1x3x64x64", body)[0])
        except OSError:  # refused (429) with the connection cut: a limit closing it
            answers.append(0)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    growth = _peak_rss_mb(server.pid) - before
    assert len(answers) == 4 and set(answers) <= {400, 429, 0} and 400 in answers
    assert growth < 2 * 40, f"peak RSS grew {growth:.0f} MB"
    assert _serving(server)


def test_huge_protocol_fields_are_refused_at_once(server):
    started = time.monotonic()
    status, payload, _ = raw_request(
        server.url, "POST", "/measure?shape=1x3x64x64&max_seconds=1e9&min_runs=1000000000"
        "&max_runs=1000000000",
        b"\x08")
    assert status == 400 and "over this server's limit" in payload["error"]
    assert time.monotonic() - started < 5
    status, payload, _ = raw_request(server.url, "POST",
                                     "/measure?shape=1x3x64x64&warmup_runs=99999999", b"\x08")
    assert status == 400 and "warmup_runs" in payload["error"]
    assert not raw_request(server.url, "GET", "/info")[1]["busy"]


@pytest.mark.parametrize("shape", ["10000000x3x64x64", "1x3x100000x64", "1x1x1x1x1x1x1",
                                   "0x3x64x64", "1x3x64x64" + "x1" * 100, "1x3x%C2%B2x64",
                                   "-1x3x64x64", ""])
def test_unbounded_input_shapes_are_400(server, shape):
    status, payload, _ = raw_request(server.url, "POST", f"/measure?shape={shape}", b"\x08")
    assert status == 400 and "shape" in payload["error"]
    assert _serving(server)


def test_a_body_shorter_than_its_content_length_is_408(server):
    with _connect(server) as sock:
        sock.sendall(_head("/measure?shape=1x3x64x64", length=1000) + b"\x08" * 10)
        started = time.monotonic()
        assert _status(sock) == 408
        assert time.monotonic() - started < BODY_TIMEOUT + 5
    assert _serving(server)


def test_slowloris_sockets_are_closed_after_the_header_timeout(server):
    sockets = []
    for _ in range(10):
        sock = _connect(server)
        sock.sendall(b"POST /measure HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never end
        sockets.append(sock)
    try:
        assert _serving(server)  # the 10 idle sockets do not stop a real client
        started = time.monotonic()
        for sock in sockets:
            assert _status(sock) is None  # closed by the server, no answer
        assert time.monotonic() - started < HEADER_TIMEOUT + 5
    finally:
        for sock in sockets:
            sock.close()
    assert _serving(server)


def test_connections_over_the_cap_are_answered_503(server):
    idle = [_connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        assert wait_until(lambda: raw_request(server.url, "GET", "/info")[0] == 503, 3)
    finally:
        for sock in idle:
            sock.close()
    assert wait_until(lambda: _serving(server), 5)


def test_fp16_on_a_cpu_backend_is_400(server, tiny_onnx):
    status, payload, _ = raw_request(server.url, "POST", "/measure?shape=1x3x64x64&precision="
                                     "fp16", tiny_onnx)
    assert status == 400 and "measures fp32, int8" in payload["error"]
    assert raw_request(server.url, "POST", "/measure?shape=1x3x64x64&precision=fp64",
                       tiny_onnx)[0] == 400
    assert _serving(server)


@pytest.mark.parametrize("length", ["abc", "-5", "99999999999999999999"])
def test_bad_content_lengths_are_400(server, length):
    with _connect(server) as sock:
        sock.sendall(f"POST /measure?shape=1x3x64x64 HTTP/1.1\r\nHost: x\r\nAuthorization: "
                     f"Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n".encode())
        assert _status(sock) in (400, 413)
    assert _serving(server)


def test_a_chunked_upload_over_the_limit_is_cut_off(server):
    with _connect(server) as sock:
        head = _head("/measure?shape=1x3x64x64").replace(
            b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(head)
        chunk = b"\x08" * (1 << 20)
        try:
            for _ in range(UPLOAD_LIMIT_MB + 2):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the server closed the connection at the limit
        assert _status(sock) in (413, None)
    assert _serving(server)


def test_a_client_that_goes_away_cancels_its_measurement(server, tiny_onnx):
    long_run = {**FAST, "max_seconds": 15, "min_runs": 10000, "max_runs": 10000,
                "max_remeasures": 0}
    query = urllib.parse.urlencode({"shape": "1x3x64x64", "precision": "fp32", **long_run})
    sock = _connect(server)
    sock.sendall(_head(f"/measure?{query}", length=len(tiny_onnx)) + tiny_onnx)
    assert wait_until(lambda: raw_request(server.url, "GET", "/info")[1]["busy"], 10)
    sock.close()
    started = time.monotonic()
    assert wait_until(lambda: not raw_request(server.url, "GET", "/info")[1]["busy"], 5)
    assert time.monotonic() - started < 5  # not the 15 s it asked for
    assert wait_until(lambda: "measurement was cancelled" in server.log_text(), 5)
    result = ServerClient(server.url, TOKEN, timeout_s=30).measure(
        tiny_onnx, (1, 3, 64, 64), "fp32", Protocol().with_overrides(FAST))
    assert result.median_ms > 0  # the device is free again at once


def test_a_measurement_over_the_time_limit_is_stopped_with_400(tiny_onnx):
    short = ServerProcess("--max-measure-seconds", "1")
    try:
        protocol = {**FAST, "max_seconds": 1, "min_runs": 10000, "max_runs": 10000,
                    "max_remeasures": 5, "max_cv": 0}
        query = urllib.parse.urlencode({"shape": "1x3x64x64", **protocol})
        started = time.monotonic()
        status, payload, _ = raw_request(short.url, "POST", f"/measure?{query}", tiny_onnx)
        assert status == 400 and "ran past this server's limit of 1 s" in payload["error"]
        assert time.monotonic() - started < 6
    finally:
        short.stop()
