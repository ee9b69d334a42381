"""Fixtures for the latency tests: a fast protocol, a private cache, tiny models, an agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprune.latency import Protocol
from tests.latency.latency_helpers import FAST, ServerProcess


@pytest.fixture
def fast_protocol() -> Protocol:
    return Protocol().with_overrides(FAST)


@pytest.fixture(autouse=True)
def private_cache(private_latency_cache: Path) -> Path:
    """Every test gets its own default cache file, never the user's."""
    return private_latency_cache


@pytest.fixture(scope="session")
def tiny_onnx() -> bytes:
    """yolov3-tiny at width 0.25, 3 classes, exported at 64x64."""
    from edgeprune.models import create
    from edgeprune.onnxio.serialize import onnx_bytes

    return onnx_bytes(create("yolov3-tiny", num_classes=3, width=0.25, imgsz=64), (64, 64))


@pytest.fixture(scope="module")
def agent():
    """An agent with a 3 MiB upload limit."""
    process = ServerProcess("--max-upload-mb", "3",
                           "--busy-wait", "30")
    yield process
    process.stop()
