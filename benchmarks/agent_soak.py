"""Device server soak: N clients send a mix of valid measurements and abusive requests to one
`edgeprune agent serve` on 127.0.0.1 for a bounded time; the server's memory, every answer and
every valid measurement are recorded.

Goals (issue 15): the server's peak memory grows by at most 2x one upload's size whatever the
number of clients; every abusive request is answered 4xx or has its connection closed by a
limit; no valid measurement is lost (the client retries busy answers as it does in a search).

    python benchmarks/agent_soak.py                       # 8 clients, 180 s, 32 MiB limit
    python benchmarks/agent_soak.py --clients 4 --seconds 30 --out /tmp/soak.md

Abusive kinds: big uploads near the limit (junk that starts like ONNX, so it is streamed to disk
in full and handed to the backend), uploads declared over the limit, protocol fields and input
shapes over the bounds, a wrong token, fp16 on a CPU backend, bodies shorter than their
Content-Length, slowloris headers, and clients that go away in the middle of a measurement.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_info import commit, machine_line, uptime  # noqa: E402

FAST = {"warmup_runs": 3, "warmup_seconds": 0.02, "min_runs": 10, "max_runs": 100,
        "max_seconds": 0.3, "target_rel_ci": 0.05, "max_remeasures": 1, "drift_every": 0}
KINDS = {  # kind: weight in the mix
    "valid": 6, "big_upload": 2, "declared_oversize": 1, "fields_over_bounds": 1,
    "shape_over_bounds": 1, "wrong_token": 1, "fp16_on_cpu": 1, "short_body": 1,
    "slowloris": 1, "gone_mid_measure": 1,
}
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
RECORD_LOCK = threading.Lock()


class Server:
    def __init__(self, token: str, upload_mb: int, max_waiting: int) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        command = [sys.executable, "-c", "from edgeprune.cli import main; main()", "device",
                   "serve", "--port", "0", "--ort-threads", "1", "--max-upload-mb", str(upload_mb),
                   "--max-waiting", str(max_waiting), "--max-connections", "64",
                   "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout",
                   str(BODY_TIMEOUT), "--busy-wait", "120", "--max-measure-seconds", "30"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True,
                                        env={**os.environ, "EDGEPRUNE_SERVER_TOKEN": token})
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise SystemExit(f"the server did not start: {line!r}")
        self.url = match.group(1)
        parts = urllib.parse.urlsplit(self.url)
        self.address = (parts.hostname, parts.port)

    def memory_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def log_text(self) -> str:
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process.stdout.close()


def raw(server: Server, head: str, body: bytes = b"", hold: bool = False,
        close_after: float | None = None) -> str:
    """Send `head` + `body` on a fresh socket; the status answered, or 'closed'."""
    with socket.create_connection(server.address, timeout=60) as sock:
        try:
            sock.sendall(head.encode() + body)
            if close_after is not None:  # hang up then, unless the server answered first
                time.sleep(close_after)
                sock.setblocking(False)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    return "went away"
                return data.split()[1].decode() if data.startswith(b"HTTP/1.1") else "closed"
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            return "closed"
        return data.split()[1].decode() if data.startswith(b"HTTP/1.1") else "closed"


def head(path: str, token: str, length: int | None, partial: bool = False) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines) + ("\r\n" if partial else "\r\n\r\n")


def run_client(index: int, server: Server, token: str, model: bytes, upload_bytes: int,
               limit_bytes: int, deadline: float, outcomes: dict, errors: list) -> None:
    from edgeprune.latency import Protocol
    from edgeprune.latency.client import ServerClient

    rng = random.Random(index)
    client = ServerClient(server.url, token, timeout_s=120, busy_retry_s=300)
    protocol = Protocol().with_overrides(FAST)
    query = "/measure?" + urllib.parse.urlencode({"shape": "1x3x64x64", **FAST})
    kinds, weights = zip(*KINDS.items(), strict=True)
    junk = b"\x08\x08" + b"\x00" * (upload_bytes - 2)
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        began = time.monotonic()
        try:
            if kind == "valid":
                result = client.measure(model, (1, 3, 64, 64), "fp32", protocol)
                outcome = "200" if result.median_ms > 0 else "bad result"
            elif kind == "big_upload":
                outcome = raw(server, head(query, token, len(junk)), junk)
            elif kind == "declared_oversize":
                outcome = raw(server, head(query, token, limit_bytes + 1), b"\x08" * 4096)
            elif kind == "fields_over_bounds":
                path = "/measure?shape=1x3x64x64&max_seconds=1e9&min_runs=1000000000"
                outcome = raw(server, head(path, token, 1), b"\x08")
            elif kind == "shape_over_bounds":
                outcome = raw(server, head("/measure?shape=10000000x3x64x64", token, 1), b"\x08")
            elif kind == "wrong_token":
                outcome = raw(server, head(query, "x" * 20, len(model)), model)
            elif kind == "fp16_on_cpu":
                outcome = raw(server, head(query + "&precision=fp16", token, len(model)), model)
            elif kind == "short_body":
                outcome = raw(server, head(query, token, len(model) + 1000), model)
            elif kind == "slowloris":
                outcome = raw(server, head("/measure", token, None, partial=True))
            else:  # gone_mid_measure: a long measurement whose client hangs up after 0.5 s
                long_query = query.replace("max_seconds=0.3", "max_seconds=20").replace(
                    "min_runs=10", "min_runs=5000").replace("max_runs=100", "max_runs=5000")
                outcome = raw(server, head(long_query, token, len(model)), model,
                              close_after=0.5)
        except Exception as exc:  # recorded; a lost valid measurement is a failed goal
            outcome = f"error {type(exc).__name__}"
            errors.append(f"client {index} {kind}: {type(exc).__name__}: {exc}"[:300])
        with RECORD_LOCK:
            outcomes[kind][outcome] += 1
            outcomes["_seconds"][kind] += time.monotonic() - began
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--upload-mb", type=int, default=32, help="the server's upload limit")
    parser.add_argument("--max-waiting", type=int, default=4)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "agent_soak.md"))
    args = parser.parse_args()

    from edgeprune.models import create
    from edgeprune.onnxio.serialize import onnx_bytes

    model = onnx_bytes(create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64), (64, 64))
    limit = args.upload_mb << 20
    upload = int(limit * 0.9)
    token = secrets.token_urlsafe(24)
    load_before = uptime()
    server = Server(token, args.upload_mb, args.max_waiting)
    samples: list[float] = []
    stop_sampling = threading.Event()
    try:
        # Warm up (ONNX Runtime loaded, one measurement done) before the baseline.
        from edgeprune.latency import Protocol
        from edgeprune.latency.client import ServerClient

        warm = ServerClient(server.url, token)
        warm.measure(model, (1, 3, 64, 64), "fp32", Protocol().with_overrides(FAST))
        warm.close()
        raw(server, head("/measure?shape=1x3x64x64", token, 2), b"\x08\x08")
        baseline_rss = server.memory_mb("VmRSS")
        baseline_peak = server.memory_mb("VmHWM")

        def sample() -> None:
            while not stop_sampling.wait(0.1):
                samples.append(server.memory_mb("VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        outcomes: dict = collections.defaultdict(collections.Counter)
        errors: list[str] = []
        deadline = time.monotonic() + args.seconds
        started = time.monotonic()
        clients = [threading.Thread(target=run_client, args=(
            i, server, token, model, upload, limit, deadline, outcomes, errors))
            for i in range(args.clients)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=args.seconds + 600)
        wall = time.monotonic() - started
        stop_sampling.set()
        sampler.join(timeout=5)
        peak = server.memory_mb("VmHWM")
        still_serving = ServerClient(server.url, token).info()["backend"]
        log = server.log_text()
        temp_left = sum(p.stat().st_size for p in Path(tempfile.gettempdir()).glob(
            f"edgeprune-agent-{server.process.pid}-*/*"))
    finally:
        stop_sampling.set()
        server.stop()
    load_after = uptime()
    write_report(args, outcomes, errors, baseline_rss, baseline_peak, peak, samples, upload,
                 wall, still_serving, log, temp_left, load_before, load_after)


def write_report(args, outcomes, errors, baseline_rss, baseline_peak, peak, samples, upload,
                 wall, still_serving, log, temp_left, load_before, load_after) -> None:
    upload_mb = upload / 2**20
    growth = peak - baseline_peak
    abusive = {k: v for k, v in outcomes.items() if k not in ("valid", "_seconds")}
    valid = outcomes["valid"]
    lost = sum(n for status, n in valid.items() if status != "200")
    bad_abusive = {k: {s: n for s, n in v.items() if not (s.startswith("4") or s == "closed"
                                                          or s == "went away")}
                   for k, v in abusive.items()}
    bad_abusive = {k: v for k, v in bad_abusive.items() if v}
    tracebacks = log.count("Traceback")
    noticed = log.count(" went away")  # its upload dropped, or its measurement cancelled
    cancelled = log.count("measurement was cancelled")
    hung_up = outcomes["gone_mid_measure"]["went away"]
    command = " ".join(["python benchmarks/agent_soak.py", *sys.argv[1:]])
    lines = [
        "# Device server soak", "",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}, commit {commit()}  ",
        f"Load before: `{load_before}`  ",
        f"Load after: `{load_after}`  ",
        f"Server: ort-cpu, 1 thread, upload limit {args.upload_mb} MiB, max waiting "
        f"{args.max_waiting}, header/body timeouts {HEADER_TIMEOUT:g}/{BODY_TIMEOUT:g} s; "
        f"{args.clients} clients for {wall:.0f} s (seeded mix, weights {dict(KINDS)})", "",
        "## Goals", "",
        "| goal | measured | met |", "|---|---|---|",
        f"| peak memory growth <= 2x one upload ({2 * upload_mb:.0f} MiB) | {growth:.1f} MiB "
        f"(VmHWM {baseline_peak:.0f} -> {peak:.0f} MiB; RSS samples max "
        f"{max(samples, default=float('nan')):.0f} MiB, baseline RSS {baseline_rss:.0f} MiB) | "
        f"{'yes' if growth <= 2 * upload_mb else 'NO'} |",
        f"| every abusive request 4xx or closed by a limit | "
        f"{sum(sum(v.values()) for v in abusive.values())} abusive requests, exceptions: "
        f"{bad_abusive or 'none'} | {'yes' if not bad_abusive else 'NO'} |",
        f"| no valid measurement lost | {valid['200']} of {sum(valid.values())} valid "
        f"measurements returned a result | {'yes' if not lost else 'NO'} |",
        f"| a client that goes away cancels its measurement | the server logged {noticed} "
        f"clients gone ({cancelled} measurements cancelled) for {hung_up} that hung up | "
        f"{'yes' if noticed >= hung_up else 'NO'} |",
        f"| zero tracebacks in the server log | {tracebacks} | "
        f"{'yes' if not tracebacks else 'NO'} |",
        f"| still serving after the soak; temp files left | GET /info -> {still_serving}; "
        f"{temp_left} bytes | {'yes' if still_serving and not temp_left else 'NO'} |", "",
        "## Answers by kind", "",
        "| kind | requests | answers | mean s per request |", "|---|---|---|---|",
    ]
    for kind in KINDS:
        counter = outcomes.get(kind, collections.Counter())
        total = sum(counter.values())
        mean = outcomes["_seconds"][kind] / total if total else 0
        answers = ", ".join(f"{s}: {n}" for s, n in sorted(counter.items()))
        lines.append(f"| {kind} | {total} | {answers or '-'} | {mean:.2f} |")
    lines += ["", "429: too many requests already waiting for the device (a limit, with "
              "Retry-After; the valid client retries it, as a search does). `closed`: the "
              "server closed the connection (a header timeout, a refused upload too large to "
              "drain). `went away`: the client hung up before any answer.", ""]
    if errors:
        lines += ["## Client errors (first 10)", "", *[f"- {e}" for e in errors[:10]], ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
