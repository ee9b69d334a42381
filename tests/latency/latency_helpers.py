"""Shared by the latency tests: the fast protocol, the test token, an agent subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile

FAST = {"warmup_runs": 3, "warmup_seconds": 0.02, "min_runs": 10, "max_runs": 200,
        "max_seconds": 0.5, "target_rel_ci": 0.05, "max_remeasures": 1, "drift_every": 0}
TOKEN = "test-token-0123456789"


class ServerProcess:
    """`edgeprune device serve` in its own process, ended by its pid; the token comes from the
    environment (TOKEN unless `env` says otherwise), as a user keeps it out of `ps`. Its
    caches (the unit cache, beside the latency cache) are in a folder of its own, removed by
    stop(): a module's server starts before a test's private cache is set."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        command = [sys.executable, "-c", "from edgeprune.cli import main; main()", "device",
                   "serve", "--port", "0", "--ort-threads", "1", *args]
        # The request log goes to a file: a pipe nobody reads would fill and block the server.
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        self.caches = tempfile.TemporaryDirectory(prefix="edgeprune-test-server-")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**os.environ, "EDGEPRUNE_SERVER_TOKEN": TOKEN,
                 "EDGEPRUNE_LATENCY_CACHE": os.path.join(self.caches.name, "latency.sqlite"),
                 **(env or {})})
        line = self._first_line(timeout=60)
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.log.seek(0)
            error = self.log.read()
            self.stop()
            raise RuntimeError(f"agent did not start: {line!r} {error}")
        self.url = match.group(1)

    def log_text(self) -> str:
        """What the server wrote to stderr so far (pread: the server shares the file offset)."""
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def _first_line(self, timeout: float) -> str:
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
        return self.process.stdout.readline()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process.stdout.close()
        self.log.close()
        self.caches.cleanup()


def raw_request(url: str, method: str, path: str, body: bytes | None = None,
                token: str | None = TOKEN, timeout: float = 30) -> tuple[int, dict, dict]:
    """One request by http.client: (status, JSON payload, headers with lower-case names)."""
    import http.client
    import json
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        try:
            payload = json.loads(data or b"{}")
        except ValueError:
            payload = {"error": data.decode("utf-8", "replace")}
        return response.status, payload, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def wait_until(condition, timeout: float, interval: float = 0.05) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
