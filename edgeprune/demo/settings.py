"""The demo's settings: sizes for a regime where pruning can pay on a 2-core CPU, and
the keys the cached data, base, weight-sharing network and scratch model are stored under.

Plain data (no torch), so `edgeprune demo --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from edgeprune import __version__

DEFAULT_CACHE = Path.home() / ".cache" / "edgeprune" / "demo"
# the proxies that read a weight-sharing network (edgeprune.search.weight_sharing), named
# here so that `edgeprune demo --help` imports no torch
WEIGHT_SHARING_PROXIES = ("pruningnet", "slimmable")
DEMO_PROXIES = ("bn-recal", *WEIGHT_SHARING_PROXIES)


@dataclass(frozen=True)
class DemoSettings:
    """Sizes for a regime where pruning can pay (issue 26: a converged base, latency that
    follows compute); a cold run of them took 53.3 minutes on a 2-core CPU; docs/demo.md
    says what they were measured to cost."""

    images: int = 600  # generated images per domain (80% train, 20% val)
    image_size: tuple[int, int] = (640, 480)  # generated image width, height
    # yolov3 w0.5 at 160 px on 1 ONNX Runtime thread: where this CPU's latency follows
    # compute (a uniform keep-0.5 prune ran 3.50x faster, against 1.99x for the w0.25 at
    # 256 px on 2 threads the demo used before: regime check (b), docs/search.md). 128 px
    # costs 0.82x as much an epoch here and its base reached 0.71 in 24 epochs where
    # 160 px reached 0.87 in 30 (docs/demo.md, "Sizes")
    imgsz: int = 160  # network input
    width: float = 0.5  # yolov3 width multiplier
    # the most the base trains: it stops earlier when converged; the learning rate's cosine
    # schedule ends here, so the base still gains close to it (30 epochs still gained in
    # their last 5 on 2026-12-07, and check (a) failed)
    epochs: int = 30
    # the base's plateau window in epochs (`train --plateau`; 0: off): 5, as in
    # benchmarks/regime.py, since val mAP@0.5 swings by 0.1-0.3 between epochs while the
    # learning rate is high; on the regime benchmark's curve a 3-epoch window stopped on such
    # a swing at 0.72 (epoch 16)
    plateau: int = 5
    batch: int = 16
    ort_threads: int = 1  # ONNX Runtime threads of every latency measurement
    target_speedup: float = 2.0
    # the search's accuracy proxy; a weight-sharing one (pruningnet, slimmable) trains the
    # base's weight-sharing network first (benchmarks/results/proxy_fidelity*.md compare
    # them: pruningnet ranks at least as well as slimmable, at the demo's sizes too)
    proxy: str = "pruningnet"
    supernet_epochs: float = 1.0
    agent: str = "abcp"
    budget: int = 12
    # latency of the candidates and of the scratch widths: the ratio to the base known to
    # +-3% or 5 s of timing, instead of the default +-2% or 20 s (docs/demo.md, "Sizes")
    latency_protocol: tuple[tuple[str, float], ...] = (("target_rel_ci", 0.03),
                                                       ("max_seconds", 5.0))
    recal_batches: int = 10
    val_images: int = 60  # the search's fixed validation subset
    # fine-tuning: `finetune_share` of the base's trained epochs (`finetune --base-share`),
    # unless `finetune_epochs` is given
    finetune_epochs: int | None = None
    finetune_share: float = 0.3
    distill_weight: float = 1.0
    seed: int = 0
    workers: int | None = None  # data-loading processes; None: the trainer's default
    # trainings after the search (fine-tuning, both scratch models) at once, each in its own
    # process with cores // parallel torch threads (at least 1); None: all 3 (1 on one core)
    # (demo/parallel.py); 1: one after another in the demo's process
    parallel: int | None = None
    # sim-to-real robustness of the base and the fine-tuned model: a few corruptions on a
    # val subset keep it to about a minute (`edgeprune eval sim2real` runs the whole suite)
    sim2real_corruptions: str = "gaussian_noise,motion_blur,low_light"
    sim2real_severities: str = "1,3,5"
    sim2real_images: int = 40

    @property
    def supernet_form(self) -> str | None:
        """The weight-sharing network the proxy reads, None for a proxy that reads none."""
        return self.proxy if self.proxy in WEIGHT_SHARING_PROXIES else None

    def key(self, *names: str) -> str:
        """A short hash of the named settings (and the edgeprune version)."""
        values = {name: getattr(self, name) for name in names}
        text = json.dumps({"edgeprune": __version__, **values}, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DATA_SETTINGS = ("images", "image_size", "seed")
BASE_SETTINGS = (*DATA_SETTINGS, "imgsz", "width", "epochs", "plateau", "batch")
SUPERNET_SETTINGS = (*BASE_SETTINGS, "supernet_form", "supernet_epochs")
# and the width found; the scratch model trains for the base's and fine-tuning's epochs
SCRATCH_SETTINGS = (*BASE_SETTINGS, "finetune_epochs", "finetune_share")


