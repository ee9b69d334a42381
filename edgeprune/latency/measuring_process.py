"""The device server's handle on its measuring child process (measure_child.py): a pool of one
per device, started with the server and again after it was killed.

A job runs under a wall-clock deadline that covers everything the child does for it (loading,
engine build, warm-up, timing). When the deadline passes, or the job's caller is cancelled (its
client went away, the server is stopping), the child is asked to stop at its next timed run;
one that has not answered within STOP_GRACE_S (inside a long run, or still loading) is
killed, so the device is free within a second either way. The parent waits on the pipe from
the event loop (no thread per job) and only ever reads JSON from it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection

import anyio

from edgeprune.errors import EdgepruneError
from edgeprune.latency.measure_child import receive, send

START_TIMEOUT_S = 120.0  # importing a runtime and creating a CUDA context, on a slow board
STOP_GRACE_S = 0.5  # a child between runs stops in microseconds; one inside a run is killed
INFO_TIMEOUT_S = 5.0


class JobEnded(Exception):
    """A job the child did not finish: `reason` is 'deadline' or 'died' (then `exitcode`);
    `seconds` from the job's start to the child stopped (a restart before it not counted)."""

    def __init__(self, reason: str, seconds: float, exitcode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds
        self.exitcode = exitcode


class MeasuringProcess:
    """The child process that owns the device: `start()` (blocking), `run(job, deadline_s)`
    (async), `refresh_info()`, `close()`. One job at a time: the caller holds the device lock.

    A plain subprocess (`python -m edgeprune.latency.measure_child`) on one end of a socket
    pair: exactly one process, nothing inherited but that socket, stderr shared with the
    server's log."""

    def __init__(self, backend: str, options: dict | None = None,
                 memory_bytes: int = 2048 << 20) -> None:
        self.backend = backend
        self.options = dict(options or {})
        self.memory_bytes = memory_bytes
        self.info: dict = {}  # the backend's info() as the child last told it
        self.memory_cap = ""
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's pid, for tests and benchmarks (never shown to clients)."""
        return self._process.pid if self.alive else None

    def start(self) -> None:
        """Start the child and wait until its runtime is loaded and its memory capped (the
        server's start; later starts are `run`'s, on the event loop)."""
        self._spawn()
        try:
            if not self._conn.poll(START_TIMEOUT_S):
                raise EdgepruneError(f"the {self.backend} measuring process did not start "
                                     f"within {START_TIMEOUT_S:g} s")
            message = receive(self._conn)
        except EOFError:
            message = None
        except BaseException:
            self.close()
            raise
        self._ready(message)

    async def _restart(self) -> None:
        """`start` without blocking the event loop; cancelling it kills the new child."""
        self._spawn()
        try:
            with anyio.fail_after(START_TIMEOUT_S):
                message = await self._reply()
        except TimeoutError:
            self.close()
            raise EdgepruneError(f"the {self.backend} measuring process did not start within "
                                 f"{START_TIMEOUT_S:g} s") from None
        except BaseException:
            self.close()
            raise
        self._ready(message)

    def _spawn(self) -> None:
        self.close()  # a child that died on its own leaves its pipe and exit status behind
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "edgeprune.latency.measure_child", str(theirs.fileno()),
                 self.backend, json.dumps(self.options), str(self.memory_bytes)],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL)
        self._conn = Connection(ours.detach())

    def _ready(self, message: dict | None) -> None:
        """Take the child's first message: ready, or why it could not start."""
        if message is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            how = describe_exit(self._process.returncode)
            self.close()
            raise EdgepruneError(f"the {self.backend} measuring process died while starting "
                                 f"({how})")
        if message["kind"] != "ready":
            self.close()
            raise EdgepruneError(message.get("error", "the measuring process failed to start"))
        self.info = message["info"]
        self.memory_cap = message["memory_cap"]

    async def run(self, job: dict, deadline_s: float) -> dict:
        """The child's answer to `job` (kind: result, rejected, memory, failed); JobEnded when
        the deadline passed or the child died. Cancelling the caller stops the child."""
        if not self.alive:
            await self._restart()
        started = anyio.current_time()
        try:
            send(self._conn, {"kind": "measure", **job})
        except OSError:  # it died since the check
            raise JobEnded("died", 0.0, await self._reap()) from None
        try:
            with anyio.fail_after(deadline_s):
                message = await self._reply()
        except TimeoutError:
            await self.stop()
            raise JobEnded("deadline", anyio.current_time() - started) from None
        except BaseException:  # cancelled: the client went away or the server is stopping
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise
        if message is None:
            exitcode = await self._reap()
            raise JobEnded("died", anyio.current_time() - started, exitcode)
        if message.get("info"):
            self.info = message["info"]
        return message

    async def refresh_info(self) -> None:
        """Ask an idle child for its device identity again (a power mode may have changed)."""
        if not self.alive:
            return
        send(self._conn, {"kind": "info"})
        with anyio.move_on_after(INFO_TIMEOUT_S):
            message = await self._reply()
            if message is not None:
                self.info = message["info"]
                return
        await self.stop()

    async def stop(self) -> None:
        """Stop the job in progress: at the child's next timed run, else by killing it."""
        if not self.alive:
            return
        with contextlib.suppress(OSError):  # the child is already gone
            send(self._conn, {"kind": "stop"})
        with anyio.move_on_after(STOP_GRACE_S):
            if await self._reply() is not None:
                return  # it stopped between runs and is ready for the next job
        self.kill()
        await self._reap()

    def kill(self) -> None:
        if self.alive:
            self._process.kill()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Stop the child for good (the server is stopping)."""
        self.kill()
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            self._process = None

    async def _reply(self) -> dict | None:
        """The child's next message, None when it died."""
        conn = self._conn
        while not conn.poll():
            await anyio.wait_readable(conn.fileno())
        try:
            return receive(conn)
        except (EOFError, OSError):
            return None

    async def _reap(self) -> int | None:
        """Wait (off the event loop) until a dead or killed child is gone; its exit code."""
        self.kill()
        process, self._process = self._process, None
        if process is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            await anyio.to_thread.run_sync(process.wait, 5)
        return process.returncode


def describe_exit(exitcode: int | None) -> str:
    """How a child ended: 'killed by SIGSEGV' (a crash, or SIGKILL from the kernel's OOM
    killer) or 'exit status N'."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"
