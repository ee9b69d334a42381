"""The two kinds of actor a search on a cluster runs; plain classes, made Ray actors by the
executor (so importing this module needs no Ray).

- AccuracyWorker: the environment's accuracy half. It loads the base, the data and the proxy's
  batches once, when it starts (or restarts after its process died), then scores spec after
  spec: exactly `SearchEnvironment.accuracy`, as the driver would.
- DeviceActor: one physical device's latency half: a LatencyMeter of its own on that device
  (no cache: the driver keeps the run's), measuring one pruned cfg at a time. Its device
  resource on the cluster makes sure no second actor measures on the same board.
"""

from __future__ import annotations

import os
import time

from edgeprune.errors import EdgepruneError
from edgeprune.latency.profiles import DeviceProfile


class DeviceGone(EdgepruneError):
    """The device stopped answering: its server went away or its connection is down."""


class AccuracyWorker:
    def __init__(self, settings, threads: int) -> None:
        import torch

        from edgeprune.search.loop import build_environment

        torch.set_num_threads(threads)  # the same in every worker: same numbers anywhere
        self.env = build_environment(settings, None)
        self.env.proxy.recalibration_batches()  # drawn now, once, not with the first spec

    def ready(self) -> int:
        return os.getpid()

    def accuracy(self, spec) -> tuple[dict, float, int]:
        """(scores part by part, seconds, this process's id): the driver combines them."""
        began = time.perf_counter()
        scores = self.env.accuracy_scores(spec)
        return scores, time.perf_counter() - began, os.getpid()


class DeviceActor:
    def __init__(self, profile: DeviceProfile, token: str | None, protocol: dict,
                 precision: str | None, threads: int | None, reference=None) -> None:
        from edgeprune.latency.meter import resolve_device

        self.profile = profile
        self.meter = resolve_device(profile, token=token, cache=False, protocol=protocol,
                                    precision=precision, threads=threads)
        if reference is not None:  # timed interleaved with the base, as the driver would
            self.meter.use_reference(reference)

    def info(self) -> dict:
        """What the driver checks the pool by; an unreachable device raises DeviceGone."""
        backend = self.meter.backend
        try:
            return {"name": self.name(), "backend_key": backend.cache_backend_key(),
                    "identity": backend.identity().key(), "describe": self.meter.describe(),
                    "pid": os.getpid()}
        except EdgepruneError as exc:
            raise DeviceGone(str(exc)) from None

    def name(self) -> str:
        return self.profile.server or f"{self.profile.name} ({self.profile.backend})"

    def measure(self, cfg, input_shape: tuple[int, ...]) -> tuple[object, float]:
        """(LatencyResult, seconds). A failure of the device itself, not of the model, whose
        device no longer answers /info either, is DeviceGone; the driver then measures on
        another one."""
        from edgeprune.latency.backends.base import ModelRejected

        began = time.perf_counter()
        try:
            result = self.meter.measure(cfg, input_shape, use_cache=False)
        except ModelRejected:
            raise
        except EdgepruneError as exc:
            if self._answers():
                raise
            raise DeviceGone(str(exc)) from None
        return result, time.perf_counter() - began

    def _answers(self) -> bool:
        from edgeprune.latency.client import ServerClient

        client = getattr(self.meter.backend, "client", None)
        if not isinstance(client, ServerClient):  # a local backend: the device is this node
            return True
        try:  # once, briefly: the measurement already retried with backoff
            ServerClient(client.url, client.token, timeout_s=10.0, retries=0).info()
        except EdgepruneError:
            return False
        return True
