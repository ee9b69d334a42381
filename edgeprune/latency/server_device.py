"""The device side of the device server: one measurement at a time, each in the measuring child
process (measuring_process.py) under the server's deadline and memory cap, and the child's
answers turned into what a client reads.

Nothing a model does reaches the server's own process: a model that runs past the deadline,
takes more memory than the cap or crashes its runtime ends its child, which the next
measurement replaces, and its client gets a JSON 400 naming the limit. Messages never show
the server's temp paths (they hold its pid) or process ids.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import anyio

from edgeprune.errors import EdgepruneError
from edgeprune.latency.measuring_process import JobEnded, MeasuringProcess, describe_exit
from edgeprune.latency.server_limits import RequestRefused, ServerLimits

log = logging.getLogger("edgeprune.server")

BUSY_RETRY_AFTER = "5"
INFO_TTL_S = 5.0  # as Backend.identity_ttl_s: a power-mode change shows within seconds


class Device:
    """The one-at-a-time lock and the measuring process behind it."""

    def __init__(self, backend: str, options: dict | None, limits: ServerLimits,
                 temp_dir: Path) -> None:
        self.limits = limits
        self.temp_dir = temp_dir
        self.lock = anyio.Lock()
        self.process = MeasuringProcess(backend, options, limits.max_memory_bytes)
        self.info_at = 0.0

    def start(self) -> None:
        self.process.start()

    def close(self) -> None:
        self.process.close()

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    @property
    def info(self) -> dict:
        return self.process.info

    async def fresh_info(self) -> dict:
        """The backend's info, asked again of an idle child when it is older than INFO_TTL_S
        (a busy device answers what its last measurement said)."""
        if anyio.current_time() - self.info_at <= INFO_TTL_S:
            return self.process.info
        try:
            self.lock.acquire_nowait()
        except anyio.WouldBlock:
            return self.process.info
        try:
            await self.process.refresh_info()
            self.info_at = anyio.current_time()
        finally:
            self.lock.release()
        return self.process.info

    async def measure(self, job: dict, reference: Path | None) -> dict | RequestRefused:
        """Wait for the device (busy_wait_s), then run `job` in the child under the deadline.
        Cancelling the caller stops the child within a second and frees the device."""
        with anyio.move_on_after(self.limits.busy_wait_s) as waited:
            await self.lock.acquire()
        if waited.cancelled_caught:
            return RequestRefused(503, f"the device stayed busy for {self.limits.busy_wait_s:g}"
                                       f" s with another measurement (device serve "
                                       f"--busy-wait)", {"Retry-After": BUSY_RETRY_AFTER},
                                  limit="--busy-wait")
        try:
            if reference is not None and not reference.exists():  # replaced while we waited
                return RequestRefused(404, "the reference was replaced while this request "
                                           "waited: upload it again with POST /references")
            try:
                answer = await self.process.run(job, self.limits.max_measure_seconds)
            except JobEnded as ended:
                return self._ended(ended)
            except EdgepruneError as exc:  # a new child could not start
                log.warning("%s", exc)
                return RequestRefused(500, str(exc))
            self.info_at = anyio.current_time()
            return self._answer(answer)
        finally:
            self.lock.release()

    def _answer(self, answer: dict) -> dict | RequestRefused:
        kind = answer.get("kind")
        if kind == "result":
            try:  # JSON has no nan: a result that holds one would fail in the response
                json.dumps(answer["result"], allow_nan=False)
            except ValueError:
                return RequestRefused(500, "the device timed a non-finite latency")
            return answer["result"]
        if kind == "rejected":
            return RequestRefused(400, self.scrub(answer["error"]))
        if kind == "memory":
            return RequestRefused(400, f"the model needs more memory than this server lets one "
                                       f"measurement take ({self._memory_mb()} MiB beyond the "
                                       f"runtime's own, device serve --max-memory-mb)",
                                  limit="--max-memory-mb")
        log.warning("the device failed: %s", self.scrub(answer.get("error", kind)))
        return RequestRefused(500, f"the device failed: "
                                   f"{self.scrub(answer.get('error', str(kind)))}")

    def _ended(self, ended: JobEnded) -> RequestRefused:
        if ended.reason == "deadline":
            return RequestRefused(400, f"the measurement ran past this server's deadline of "
                                       f"{self.limits.max_measure_seconds:g} s, loading and "
                                       f"warm-up included (device serve "
                                       f"--max-measure-seconds), and was stopped after "
                                       f"{ended.seconds:.2f} s: ask for fewer or shorter runs, or "
                                       f"measure a smaller model",
                                  limit="--max-measure-seconds")
        how = describe_exit(ended.exitcode)
        cause = ("the system ran out of memory, or the model crashed its runtime"
                 if how == "killed by SIGKILL" else "the model crashed its runtime")
        log.warning("the measuring process died (%s); a new one starts with the next "
                    "measurement", how)
        return RequestRefused(400, f"the measuring process died on this model ({how}): "
                                   f"{cause}; the server goes on with a new one")

    def scrub(self, message: str) -> str:
        """`message` with the server's temp paths (which carry its pid) replaced."""
        return re.sub(re.escape(str(self.temp_dir)) + r"[^\s'\"]*", "the upload", message)

    def _memory_mb(self) -> str:
        return f"{self.limits.max_memory_bytes / 2**20:g}"
