"""Measured latency: backends, protocol, cache, device agent, device profiles, LUT predictor.

The search calls `resolve_device(spec).measure(model)`; see meter.py.
"""

from edgeprune.latency.backends import BACKENDS, Backend, ModelRejected, create_backend
from edgeprune.latency.cache import CacheKey, LatencyCache
from edgeprune.latency.meter import LatencyMeter, resolve_device
from edgeprune.latency.profiles import DeviceProfile, load_profile, resolve_profile
from edgeprune.latency.protocol import Protocol, run_protocol
from edgeprune.latency.result import DeviceIdentity, LatencyResult

__all__ = [
    "BACKENDS", "Backend", "CacheKey", "DeviceIdentity", "DeviceProfile", "LatencyCache",
    "LatencyMeter", "LatencyResult", "ModelRejected", "Protocol", "create_backend",
    "load_profile", "resolve_device", "resolve_profile", "run_protocol",
]
