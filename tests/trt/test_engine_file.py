"""The engine file and its sidecar: written as one set, read back, and refused with a rebuild
hint when built for another TensorRT or GPU. No TensorRT needed."""

from __future__ import annotations

import hashlib
import json

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.export.engine import is_current
from edgeprune.trt.engine_file import (
    SIDECAR_FORMAT,
    check_compatible,
    incompatibility,
    read_sidecar,
    sidecar_path,
    write_engine,
)


def sidecar(**changes) -> dict:
    data = {"format": SIDECAR_FORMAT, "tensorrt_version": "10.3.0", "precision": "fp16",
            "gpu": {"name": "Orin", "compute_capability": "8.7"}, "names": ["a", "b"],
            "source": {"weights": "final.pt", "onnx_sha256": "f" * 64}}
    data.update(changes)
    return data


def test_sidecar_refuses_other_tensorrt_or_gpu_with_a_rebuild_hint(tmp_path):
    data = sidecar()
    assert incompatibility(data, "10.3.0", "Orin", "8.7") is None
    assert incompatibility(data, "10.3.0", "Orin") is None
    with pytest.raises(EdgepruneError) as error:
        check_compatible(tmp_path / "final.engine", data, "8.6.1", "NVIDIA H100", "9.0")
    message = str(error.value)
    assert "final.engine: built for TensorRT 10.3.0 (this machine has TensorRT 8.6.1)" in message
    assert "Orin GPU, sm 8.7 (this machine has NVIDIA H100, sm 9.0)" in message
    assert "edgeprune export --weights final.pt --format engine" in message
    assert "GPU" not in (incompatibility(data, "8.6.1", "Orin", "8.7") or "")


def test_engine_and_sidecar_are_written_together_and_checked_for_staleness(tmp_path):
    path = tmp_path / "final.engine"
    data = sidecar(engine_sha256=hashlib.sha256(b"plan").hexdigest())
    write_engine(path, b"plan", data)
    assert sidecar_path(path).name == "final.engine.json"
    assert read_sidecar(path) == data
    assert is_current(path, "f" * 64, "fp16", "10.3.0", "Orin")
    assert not is_current(path, "e" * 64, "fp16", "10.3.0", "Orin")  # another model
    assert not is_current(path, "f" * 64, "int8", "10.3.0", "Orin")  # another precision
    assert not is_current(path, "f" * 64, "fp16", "10.4.0", "Orin")  # another TensorRT
    path.write_bytes(b"plan, rebuilt without its sidecar")
    assert not is_current(path, "f" * 64, "fp16", "10.3.0", "Orin")
    sidecar_path(path).write_text("{broken")
    with pytest.raises(EdgepruneError, match="final.engine.json: not a readable engine sidecar"):
        read_sidecar(path)
    sidecar_path(path).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(EdgepruneError, match="not an edgeprune engine sidecar"):
        read_sidecar(path)
    assert read_sidecar(tmp_path / "other.engine") is None
