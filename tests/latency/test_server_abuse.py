"""The abuse probes of issue 15 against a real server on 127.0.0.1, each bounded in count and
time: every one asserts the server's answer (a 4xx, or the connection closed by a limit) and
that it keeps serving. Issue 29's probes (deadlines, memory, crawling uploads, idle sockets)
are test_server_hard_limits.py; the soak (benchmarks/agent_soak.py) runs them mixed, for
minutes."""

import socket
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from edgeprune.latency import ModelRejected, Protocol, create_backend
from edgeprune.latency.client import ServerClient
from tests.latency.abuse_helpers import answer, connect, head
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
    return connect(server.url)


def _status(sock: socket.socket) -> int | None:
    """The status of the answer on `sock`, None when the server closed it without one."""
    return answer(sock)[0]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_parallel_big_uploads_stay_on_disk_not_in_memory(server):
    """4 parallel uploads of 40 MB (the old server held each whole in memory): the peak RSS
    grows by less than two uploads' size. They start like ONNX (ir_version, then a graph
    field), so they are streamed to disk in full and handed to the measuring process."""
    before = _peak_rss_mb(server.pid)
    body = b"\x08\x08\x3a" + b"\x00" * (40 << 20)
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
        sock.sendall(head("/measure?shape=1x3x64x64", length=1000) + b"\x08\x08\x3a" * 3)
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


def test_idle_connections_make_room_at_the_cap(server):
    """Idle sockets (no request) cannot hold the connection cap: at the cap the oldest idle
    one is closed for the newcomer (per address, then overall)."""
    idle = [_connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        assert _serving(server)
        assert _status(idle[0]) is None  # the oldest was closed to make room
    finally:
        for sock in idle:
            sock.close()
    assert _serving(server)


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
        sock.sendall(head("/measure?shape=1x3x64x64", extra="Transfer-Encoding: chunked\r\n"))
        chunk = b"\x08\x08\x3a" + b"\x00" * ((1 << 20) - 3)  # starts like ONNX
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
    sock.sendall(head(f"/measure?{query}", length=len(tiny_onnx)) + tiny_onnx)
    assert wait_until(lambda: raw_request(server.url, "GET", "/info")[1]["busy"], 10)
    sock.close()
    started = time.monotonic()
    assert wait_until(lambda: not raw_request(server.url, "GET", "/info")[1]["busy"], 5)
    assert time.monotonic() - started < 5  # not the 15 s it asked for
    assert wait_until(lambda: "measurement was stopped" in server.log_text(), 5)
    result = ServerClient(server.url, TOKEN, timeout_s=30).measure(
        tiny_onnx, (1, 3, 64, 64), "fp32", Protocol().with_overrides(FAST))
    assert result.median_ms > 0  # the device is free again at once


def test_a_protocol_longer_than_the_deadline_is_told_how_to_fit(tiny_onnx, caplog):
    """--max-measure-seconds 10 is under the default protocol's 121.5 s (interleaved): the
    server says so at start, measures requests that ask for nothing by a fitted protocol, and
    tells a client that sends the default what to ask for instead; the `remote` backend (what
    a search uses) fits its protocol to the server's deadline itself, with a warning."""
    short = ServerProcess("--max-measure-seconds", "10")
    try:
        assert "--protocol max_seconds=1.41" in short.log_text()
        client = ServerClient(short.url, TOKEN, timeout_s=60)
        with pytest.raises(ModelRejected, match=r"ask for max_seconds <= 1\.41"):
            client.measure(tiny_onnx, (1, 3, 64, 64), "fp32", Protocol())
        fitted = Protocol().with_overrides({"max_seconds": 1.41})
        assert client.measure(tiny_onnx, (1, 3, 64, 64), "fp32", fitted).median_ms > 0
        assert raw_request(short.url, "GET", "/info")[1]["protocol"]["max_seconds"] == 1.41
        status, _, _ = raw_request(short.url, "POST", "/measure?shape=1x3x64x64", tiny_onnx)
        assert status == 200
        remote = create_backend("remote", url=short.url, token=TOKEN)
        assert remote.measure(tiny_onnx, (1, 3, 64, 64), "fp32", Protocol()).median_ms > 0
        assert "timing with max_seconds=1.41 instead of 20" in caplog.text
        remote.close()
    finally:
        short.stop()
