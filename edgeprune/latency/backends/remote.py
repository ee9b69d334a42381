"""`remote`: measure on a device server over HTTP (see server.py for the API).

The results are the server's backend's own (e.g. `tensorrt` on a Jetson) and carry the server's
device identity, so they share cache rows with measurements taken on that device directly. A
base's unit table is built by the server itself (POST /units), cached there.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from edgeprune.errors import EdgepruneError
from edgeprune.latency.backends.base import Backend, register_backend
from edgeprune.latency.client import ServerClient, UnknownReference
from edgeprune.latency.protocol import Protocol
from edgeprune.latency.result import PRECISIONS, DeviceIdentity, LatencyResult
from edgeprune.latency.server_limits import fitted_protocol

if TYPE_CHECKING:
    from edgeprune.latency.lut import LatencyPredictor
    from edgeprune.models.cfg import DarknetCfg

log = logging.getLogger("edgeprune.latency")


@register_backend
class RemoteBackend(Backend):
    """A device server at `url`; `expect_backend` makes sure it measures the way a profile says."""

    name = "remote"
    precisions = PRECISIONS  # the server answers 400 for those its backend lacks
    description = "a device server (edgeprune device serve) over HTTP"
    identity_ttl_s = 60.0  # asking costs a round trip; cache hits must stay fast

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 900.0,
                 retries: int = 3, expect_backend: str | None = None,
                 token_file: str | None = None) -> None:
        self.client = ServerClient(url, token, token_file=token_file, timeout_s=timeout_s,
                                  retries=retries)
        self.expect_backend = expect_backend
        self._info: dict | None = None
        self._references: dict[str, str] = {}  # sha256 of a reference model -> server's id
        self._warned_fit = False

    def server_info(self, refresh: bool = False) -> dict:
        if self._info is None or refresh:
            info = self.client.info()
            if self.expect_backend and info.get("backend") != self.expect_backend:
                raise EdgepruneError(f"the server at {self.client.url} measures with "
                                     f"{info.get('backend')}, but {self.expect_backend} was "
                                     f"asked for; restart it with --backend "
                                     f"{self.expect_backend}")
            self._info = info
        return self._info

    def measured_by(self) -> str:
        return str(self.server_info()["backend"])

    def version(self) -> str:
        return str(self.server_info()["version"])

    def _detect_identity(self) -> DeviceIdentity:
        return DeviceIdentity.from_json(self.server_info(refresh=True)["device"])

    def _measure(self, model_bytes: bytes, input_shape: tuple[int, ...], precision: str,
                 protocol: Protocol) -> LatencyResult:
        limit = self.server_info().get("max_upload_bytes")
        if limit and len(model_bytes) > limit:
            raise EdgepruneError(f"the model is {len(model_bytes) / 2**20:.1f} MiB; the server "
                                 f"at {self.client.url} accepts at most {limit / 2**20:.1f} "
                                 f"MiB (device serve --max-upload-mb)")
        return self.client.measure(model_bytes, input_shape, precision,
                                   self._fitted(protocol, interleaved=False))

    def _fitted(self, protocol: Protocol | None, interleaved: bool) -> Protocol | None:
        """`protocol` with max_seconds lowered so that it fits the server's deadline (its
        /info limits; a server that runs models to any length says none), warned once."""
        seconds = (self.server_info().get("limits") or {}).get("max_measure_seconds")
        protocol = protocol or Protocol()
        if not seconds or protocol.longest_timing_s(interleaved) <= seconds:
            return protocol
        fitted = fitted_protocol(protocol, seconds)
        if fitted.max_seconds != protocol.max_seconds and not self._warned_fit:
            self._warned_fit = True
            log.warning("the server at %s measures for at most %g s (device serve "
                        "--max-measure-seconds): timing with max_seconds=%g instead of %g",
                        self.client.url, seconds, fitted.max_seconds, protocol.max_seconds)
        return fitted

    def measure_interleaved(self, model_bytes, reference_bytes, input_shape, precision="fp32",
                            protocol=None, reference_hash=None) -> LatencyResult:
        """Timed against the reference on the device, in one window, when the server keeps
        references (it answers `references` in /info); else the base class's before-and-after
        measurements. The reference is uploaded once and again only if the server lost it."""
        if not self.server_info().get("references"):
            return super().measure_interleaved(model_bytes, reference_bytes, input_shape,
                                               precision, protocol, reference_hash)
        self._check(input_shape, precision)
        shape = tuple(int(d) for d in input_shape)
        key = hashlib.sha256(reference_bytes).hexdigest()
        for attempt in range(2):
            if key not in self._references or attempt:
                self._references[key] = self.client.upload_reference(reference_bytes)
            try:
                result = self.client.measure(model_bytes, shape, precision,
                                             self._fitted(protocol, interleaved=True),
                                             reference=self._references[key])
                break
            except UnknownReference:
                if attempt:
                    raise
        if result.reference is not None:
            result.reference["arch_hash"] = reference_hash
        return result

    def measure_units(self, cfg: DarknetCfg, imgsz: tuple[int, int], precision: str,
                      round_to: int, grid: Sequence[float],
                      progress: Callable[[int, int], None] | None = None
                      ) -> LatencyPredictor | None:
        """The unit table built on the device by the server, asked again while the server
        answers a slice at a time (each ask resumes from the server's cache); None for a
        server of an earlier release (no `units` in /info)."""
        from edgeprune.latency.lut import LatencyPredictor
        from edgeprune.models.cfg_writer import write_cfg_text

        if not self.server_info().get("units"):
            return None
        request = {"cfg": write_cfg_text(cfg), "imgsz": list(imgsz), "precision": precision,
                   "round_to": round_to, "grid": list(grid)}
        done = -1
        while True:
            answer = self.client.units(request)
            if progress:
                progress(answer["done"], answer["units"])
            if answer["complete"]:
                table = LatencyPredictor.from_json(answer.get("table"),
                                                   f"the unit table from {self.client.url}")
                table.meta["base"] = cfg.source
                return table
            if answer["done"] <= done:  # a server that answers slices must get further
                raise EdgepruneError(f"the server at {self.client.url} stopped getting "
                                     f"further with the unit table ({done} of "
                                     f"{answer['units']} units)")
            done = answer["done"]

    def close(self) -> None:
        self.client.close()
