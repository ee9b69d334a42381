"""Where the caches live: $EDGEPRUNE_LATENCY_CACHE, else the XDG cache folder; TensorRT's
timing cache beside the latency cache."""

from __future__ import annotations

from pathlib import Path

from edgeprune.cache_paths import CACHE_ENV, default_cache_path, default_timing_cache


def test_the_timing_cache_lies_beside_the_latency_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "edgeprune" / "latency.sqlite"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine" / "lat.sqlite"))
    assert default_cache_path() == Path(tmp_path / "mine" / "lat.sqlite")
    assert default_timing_cache() == tmp_path / "mine" / "tensorrt-timing.cache"
