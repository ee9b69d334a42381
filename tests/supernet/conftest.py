"""Fixtures of the weight-sharing network tests: the search tests' self-labelled tiny base, and
one weight-sharing network of each form trained on it for a few steps."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def supernet_test_isolation(private_latency_cache, one_torch_thread) -> None:
    """As in the search tests: a private latency cache, tiny models on one torch thread."""


def tiny_config(setup, **changes):
    from edgeprune.supernet.train import SupernetConfig

    values = dict(weights=str(setup.weights), data=str(setup.data), epochs=1.0, batch=4,
                  workers=0, torch_threads=1, save_every=1, probe_images=4, probe_batches=2)
    values.update(changes)
    return SupernetConfig(**values)


@pytest.fixture(scope="session")
def trained_supernets(search_setup, tmp_path_factory) -> dict[str, Path]:
    """form -> supernet.pt, each trained one epoch (3 steps) on the tiny base."""
    from edgeprune.supernet.train import train_supernet

    root = tmp_path_factory.mktemp("supernets")
    return {form: train_supernet(tiny_config(search_setup, form=form), root / form,
                                 show_progress=False).supernet
            for form in ("pruningnet", "slimmable")}
