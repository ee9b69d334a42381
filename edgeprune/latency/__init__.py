"""Measured latency: backends, protocol, cache, device server, device profiles, LUT predictor.

The search calls `resolve_device(spec).measure(model)`; see meter.py. Names load on first use,
so the server and cache readers do not import torch.
"""

import importlib

_EXPORTS = {
    "BACKENDS": "backends", "Backend": "backends", "ModelRejected": "backends",
    "create_backend": "backends", "CacheKey": "cache", "LatencyCache": "cache",
    "LatencyMeter": "meter", "resolve_device": "meter", "DeviceProfile": "profiles",
    "load_profile": "profiles", "resolve_profile": "profiles", "Protocol": "protocol",
    "run_protocol": "protocol", "DeviceIdentity": "result", "LatencyResult": "result",
    "LatencyPredictor": "lut", "build_predictor": "lut",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgeprune.latency' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edgeprune.latency.{_EXPORTS[name]}"), name)
