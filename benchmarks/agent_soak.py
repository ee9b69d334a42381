"""Device server soak: N clients send a mix of valid measurements and abusive requests
(soak_probes.py) to one `edgeprune device serve` on 127.0.0.1 for a bounded time; the memory
of the server and of its measuring process, every answer and every valid measurement are
recorded, and the soak ends with a SIGTERM in the middle of a measurement.

Goals (issue 15): the server's peak memory grows by at most 2x one upload's size; every
abusive request is answered 4xx or has its connection closed by a limit; no valid measurement
is lost (the client retries busy answers as it does in a search). Goals (issue 29): every
probe answered 4xx/503 as JSON within its limit's deadline + 1 s; the device free within 1 s
of a client leaving; the server's RSS never above its start + the memory cap (nor the
measuring process's above its own start + the cap); 0 tracebacks; a normal client served
throughout; a SIGTERM during a measurement answered 503 JSON within 1 s.

    python benchmarks/agent_soak.py                       # 8 clients, 180 s, 32 MiB limit
    python benchmarks/agent_soak.py --clients 4 --seconds 30 --out /tmp/soak.md

Each client's abusive sockets come from a loopback address of its own (127.0.0.10+i: a second
address stands for a second machine); the valid measurements from 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from machine_info import uptime  # noqa: E402
from soak_probes import FAST, HEAVY, KINDS, Probe, Target, exchange, read_probe  # noqa: E402
from soak_report import write_report  # noqa: E402

from tests.latency.abuse_helpers import child_pids, head, memory_mb  # noqa: E402

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
MIN_UPLOAD_RATE_KIB = 64
DEADLINE_S = 3.0
MEMORY_CAP_MB = 512
RECORD_LOCK = threading.Lock()
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) edgeprune\.server "
                      r"(\S+):(\d+) went away; its measurement was stopped", re.MULTILINE)


class Server:
    def __init__(self, token: str, upload_mb: int, max_waiting: int) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        command = [sys.executable, "-c", "from edgeprune.cli import main; main()", "device",
                   "serve", "--port", "0", "--ort-threads", "1", "--max-upload-mb", str(upload_mb),
                   "--max-waiting", str(max_waiting), "--max-connections", "64",
                   "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout",
                   str(BODY_TIMEOUT), "--min-upload-rate", str(MIN_UPLOAD_RATE_KIB),
                   "--busy-wait", "120", "--max-measure-seconds", str(DEADLINE_S),
                   "--max-memory-mb", str(MEMORY_CAP_MB)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True,
                                        env={**os.environ, "EDGEPRUNE_SERVER_TOKEN": token})
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise SystemExit(f"the server did not start: {line!r}")
        self.url = match.group(1)

    def memory(self) -> tuple[float, float]:
        """RSS in MiB of the server and of its measuring process (0 while it restarts)."""
        children = child_pids(self.process.pid)
        return (memory_mb(self.process.pid), sum(memory_mb(pid) for pid in children))

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


def run_client(index: int, server: Server, token: str, model: bytes, upload_bytes: int,
               limit_bytes: int, deadline: float, records: dict, errors: list) -> None:
    from edgeprune.latency import Protocol
    from edgeprune.latency.client import ServerClient

    rng = random.Random(index)
    client = ServerClient(server.url, token, timeout_s=120, busy_retry_s=300)
    protocol = Protocol().with_overrides(FAST)
    target = Target(server.url, token, f"127.0.0.{10 + index}", upload_bytes, limit_bytes,
                    HEADER_TIMEOUT, BODY_TIMEOUT, MIN_UPLOAD_RATE_KIB * 1024, DEADLINE_S)
    kinds = list(KINDS)
    weights = [weight for _, weight in KINDS.values()]
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        began = time.monotonic()
        try:
            if kind == "valid":
                result = client.measure(model, (1, 3, 64, 64), "fp32", protocol)
                probe = Probe("200" if result.median_ms > 0 else "bad result",
                              time.monotonic() - began)
            else:
                probe = KINDS[kind][0](target, model)
        except Exception as exc:  # recorded; a lost valid measurement is a failed goal
            probe = Probe(f"error {type(exc).__name__}", time.monotonic() - began, json=False)
            errors.append(f"client {index} {kind}: {type(exc).__name__}: {exc}"[:300])
        with RECORD_LOCK:
            records[kind].append((target.source, probe))
    client.close()


def stop_during_a_measurement(server: Server, token: str) -> tuple[Probe, float]:
    """SIGTERM while a heavy model runs: its answer, and how long after the signal it came."""
    target = Target(server.url, token, "127.0.0.2", 0, 0, HEADER_TIMEOUT, BODY_TIMEOUT,
                    MIN_UPLOAD_RATE_KIB * 1024, DEADLINE_S)
    with target.connect() as sock:
        sock.sendall(head(target.query(shape="1x1"), len(HEAVY), token) + HEAVY)
        time.sleep(1.0)  # inside the heavy model's first run
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        probe = read_probe(sock, signalled)
    return probe, probe.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--upload-mb", type=int, default=32, help="the server's upload limit")
    parser.add_argument("--max-waiting", type=int, default=4)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "agent_soak.md"))
    args = parser.parse_args()

    from edgeprune.latency import Protocol
    from edgeprune.latency.client import ServerClient
    from edgeprune.models import create
    from edgeprune.onnxio.serialize import onnx_bytes

    model = onnx_bytes(create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64), (64, 64))
    limit = args.upload_mb << 20
    upload = int(limit * 0.9)
    token = secrets.token_urlsafe(24)
    load_before = uptime()
    server = Server(token, args.upload_mb, args.max_waiting)
    samples: list[tuple[float, float]] = []
    stop_sampling = threading.Event()
    try:
        # Warm up (one measurement done, an upload refused) before the baseline.
        warm = ServerClient(server.url, token)
        warm.measure(model, (1, 3, 64, 64), "fp32", Protocol().with_overrides(FAST))
        warm.close()
        exchange(Target(server.url, token, "127.0.0.1", 0, 0, 0, 0, 1, 0),
                 head("/measure?shape=1x3x64x64", 2, token) + b"\x08\x08")
        baseline = server.memory()
        baseline_peak = memory_mb(server.process.pid, "VmHWM")

        def sample() -> None:
            while not stop_sampling.wait(0.1):
                samples.append(server.memory())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        records: dict = collections.defaultdict(list)
        errors: list[str] = []
        deadline = time.monotonic() + args.seconds
        started = time.monotonic()
        clients = [threading.Thread(target=run_client, args=(
            i, server, token, model, upload, limit, deadline, records, errors))
            for i in range(args.clients)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=args.seconds + 600)
        wall = time.monotonic() - started
        peak = memory_mb(server.process.pid, "VmHWM")
        still_serving = ServerClient(server.url, token).info()["backend"]
        stopped, stop_seconds = stop_during_a_measurement(server, token)
        server.process.wait(timeout=30)
        stop_sampling.set()
        sampler.join(timeout=5)
        log = server.log_text()
        temp_left = sum(p.stat().st_size for p in Path(tempfile.gettempdir()).glob(
            f"edgeprune-server-{server.process.pid}-*/*"))
    finally:
        stop_sampling.set()
        server.stop()
    load_after = uptime()
    write_report(args, records, errors, baseline, baseline_peak, peak, samples, upload, wall,
                 still_serving, log, temp_left, stopped, stop_seconds, load_before,
                 load_after, MEMORY_CAP_MB, freed_after(records, log))


def freed_after(records: dict, log: str) -> list[float]:
    """Seconds from each hang-up (our clock) to the server's log line saying its measurement
    was stopped, the device free again (the server's clock: the same machine's)."""
    stopped = {}
    for stamp, host, port in LOG_LINE.findall(log):
        when = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        stopped[(host, int(port))] = when
    return [stopped[(source, probe.port)] - probe.hung_up_at
            for kind in ("gone_mid_measure", "heavy_gone") for source, probe in records[kind]
            if probe.hung_up_at is not None and (source, probe.port) in stopped]


if __name__ == "__main__":
    main()
