"""Joining a Ray cluster, or starting one on this machine.

`--cluster` takes:
- `local`: a private cluster of this machine's CPUs, started for the search and stopped with
  it (bound to 127.0.0.1, no dashboard);
- `auto`: the cluster `ray start --head` runs on this machine;
- `HOST:PORT`: a cluster's head (GCS address), or `ray://HOST:PORT` through Ray Client.

On a cluster someone else started, every node needs edgeprune installed, and the base
checkpoint and dataset at the same paths as on the driver (a shared folder).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from edgeprune.errors import EdgepruneError

_ADDRESS = re.compile(r"^(local|auto|ray://[^\s/]+:\d+|[^\s/:]+:\d+)$")


@dataclass(frozen=True)
class ClusterOptions:
    address: str = "local"
    workers: int | None = None  # accuracy workers; None: one per free CPU slot
    worker_cpus: int = 1  # CPUs (and torch threads) per accuracy worker

    def __post_init__(self) -> None:
        if not _ADDRESS.match(self.address):
            raise EdgepruneError(f"--cluster {self.address!r}: expected local, auto, HOST:PORT "
                                 f"or ray://HOST:PORT")
        if self.workers is not None and self.workers < 1:
            raise EdgepruneError(f"--workers must be at least 1, got {self.workers}")
        if self.worker_cpus < 1:
            raise EdgepruneError(f"--worker-cpus must be at least 1, got {self.worker_cpus}")


def import_ray():
    try:
        import ray
    except ImportError:
        raise EdgepruneError("--cluster needs Ray: pip install 'edgeprune[dist]'") from None
    return ray


def connect(options: ClusterOptions, resources: dict[str, float]) -> bool:
    """Make this process a Ray driver; True when it joined or started a cluster that it must
    leave again (False: it already was a driver, e.g. a test's or a notebook's cluster).
    `resources` are declared on a local cluster (a connected one declares its own)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if options.address == "local":
            workers = options.workers or os.cpu_count() or 1
            ray.init(address="local", num_cpus=workers * options.worker_cpus,
                     resources=resources, include_dashboard=False,
                     _node_ip_address="127.0.0.1", **quiet)
        else:
            ray.init(address=options.address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EdgepruneError(f"--cluster {options.address}: cannot join the Ray cluster "
                             f"({exc})") from None
    return True


def free_worker_slots(options: ClusterOptions) -> int:
    """Accuracy workers the cluster's CPUs hold."""
    ray = import_ray()
    cpus = int(ray.cluster_resources().get("CPU", 0))
    return max(1, cpus // options.worker_cpus)
