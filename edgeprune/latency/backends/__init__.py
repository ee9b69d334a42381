"""Latency backends, registered by name: ort-cpu, ort-cuda, tensorrt, remote."""

from edgeprune.latency.backends import ort, remote, tensorrt  # noqa: F401  (registration)
from edgeprune.latency.backends.base import (
    BACKENDS,
    Backend,
    ModelRejected,
    create_backend,
    register_backend,
)

__all__ = ["BACKENDS", "Backend", "ModelRejected", "create_backend", "register_backend"]
