"""Fixtures for the search tests: a private latency cache and one torch thread (the tiny
self-labelled base, `search_setup`, is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> None:
    """Never the user's latency cache or token."""
    monkeypatch.setenv("EDGEPRUNE_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    monkeypatch.delenv("EDGEPRUNE_AGENT_TOKEN", raising=False)


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Tiny models run fastest on one thread, and on a shared machine two threads that wait
    for each other's core made these tests 4x slower (measured); subprocesses too."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)
