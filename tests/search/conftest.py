"""Fixtures for the search tests: a private latency cache and one torch thread for every test
(both in tests/conftest.py, as is the tiny self-labelled base, `search_setup`)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def search_test_isolation(private_latency_cache, one_torch_thread) -> None:
    """Never the user's latency cache or token; tiny models on one thread."""
