"""Where edgeprune's caches live: the latency cache and, beside it, TensorRT's timing cache
and a device server's cache of layer units.

Both the latency backends and the engine export build TensorRT engines, and both reuse one
timing cache, so its place is decided here, below either of them.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "EDGEPRUNE_LATENCY_CACHE"


def default_cache_path() -> Path:
    """$EDGEPRUNE_LATENCY_CACHE, else $XDG_CACHE_HOME/edgeprune/latency.sqlite (~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgeprune" / "latency.sqlite"


def default_timing_cache() -> Path:
    """TensorRT's timing cache, in the latency cache's folder."""
    return default_cache_path().parent / "tensorrt-timing.cache"


def default_units_cache() -> Path:
    """A device server's layer units (server_units.py), in the latency cache's folder: its
    own file, since the server writes it while the board's own tools use theirs."""
    return default_cache_path().parent / "server-units.sqlite"
