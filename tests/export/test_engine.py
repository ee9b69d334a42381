"""TensorRT engines: the sidecar, the version/GPU check, and what a machine without TensorRT
says. The build and run tests need TensorRT and a GPU and skip here with the reason."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.export.engine import (
    SIDECAR_FORMAT,
    check_compatible,
    incompatibility,
    is_current,
    read_sidecar,
    sidecar_path,
    write_engine,
)
from edgeprune.export.onnx import export_onnx
from edgeprune.models import create, save_checkpoint
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.runtime.detector import Detector
from tests.helpers import randomize_weights

TENSORRT = importlib.util.find_spec("tensorrt") is not None
NEEDS_TENSORRT = pytest.mark.skipif(
    not TENSORRT, reason="TensorRT is not installed here (its PyPI package downloads from "
    "NVIDIA's index); runs on a Jetson or a GPU box with `pip install tensorrt cuda-bindings`")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def sidecar(**changes) -> dict:
    data = {"format": SIDECAR_FORMAT, "tensorrt_version": "10.3.0", "precision": "fp16",
            "gpu": {"name": "Orin", "compute_capability": "8.7"}, "names": ["a", "b"],
            "source": {"weights": "final.pt", "onnx_sha256": "f" * 64}}
    data.update(changes)
    return data


@pytest.fixture
def tiny_checkpoint(tmp_path):
    model = randomize_weights(create("yolov3-tiny", num_classes=2, width=0.25), seed=3)
    path = tmp_path / "tiny.pt"
    save_checkpoint(Checkpoint(model, ["car", "bus"], (64, 64)), path)
    return path


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
    data = sidecar(engine_sha256=__import__("hashlib").sha256(b"plan").hexdigest())
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


@pytest.mark.skipif(TENSORRT, reason="TensorRT is installed: the missing-package path is moot")
def test_without_tensorrt_export_and_detector_say_so(tmp_path, tiny_checkpoint):
    run = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--half",
                 "-o", tmp_path / "tiny.engine")
    assert run.exit_code == 1
    assert "TensorRT's Python package is not installed" in run.output
    assert "pip install tensorrt" in run.output and "Traceback" not in run.output
    assert not (tmp_path / "tiny.engine").exists()
    (tmp_path / "copied.engine").write_bytes(b"an engine from elsewhere")
    with pytest.raises(EdgepruneError, match="copied.engine: TensorRT's Python package"):
        Detector(tmp_path / "copied.engine")


def test_engine_options_are_checked_before_anything_is_built(tmp_path, tiny_checkpoint):
    both = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--half",
                  "--int8", "--calib", tmp_path)
    assert both.exit_code == 1 and "--half and --int8 exclude each other" in both.output
    no_calib = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--int8")
    assert no_calib.exit_code == 1 and "--int8 needs --calib" in no_calib.output
    wrong_format = invoke("export", "--weights", tiny_checkpoint, "--format", "onnx", "--half")
    assert wrong_format.exit_code == 1 and "--half: only for --format engine" in wrong_format.output
    with pytest.raises(EdgepruneError, match="nothing.engine: engine file not found"):
        Detector(tmp_path / "nothing.engine")


@NEEDS_TENSORRT
@pytest.mark.parametrize("half", [False, True])
def test_engine_detections_equal_onnx_runtime_for_batches(tmp_path, tiny_checkpoint, half):
    out = tmp_path / "tiny.engine"
    run = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--batch", 4,
                 "-o", out, "--timing-cache", tmp_path / "timing.cache",
                 *(["--half"] if half else []))
    assert run.exit_code == 0, run.output
    data = read_sidecar(out)
    assert data["names"] == ["car", "bus"] and data["imgsz"] == [64, 64]
    assert data["precision"] == ("fp16" if half else "fp32") and data["max_batch"] == 4
    assert (tmp_path / "timing.cache").stat().st_size > 0
    from edgeprune.models import load_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)
    export_onnx(ckpt.model, tmp_path / "tiny.onnx", ckpt.imgsz, ckpt.names)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48 + 8 * i, 80, 3), dtype=np.uint8) for i in range(6)]
    engine, reference = Detector(out), Detector(tmp_path / "tiny.onnx")
    assert engine.names == ["car", "bus"] and engine.imgsz == (64, 64)
    tolerance = 0.05 if half else 1e-3
    rows = engine.runtime.run(engine.preprocess(images)[0])  # 6 images: chunks of 4 and 2
    expected = reference.runtime.run(reference.preprocess(images)[0])
    np.testing.assert_allclose(rows[..., 4:], expected[..., 4:], atol=tolerance)
    again = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--batch", 4,
                   "-o", out, "--skip-if-current", *(["--half"] if half else []))
    assert again.exit_code == 0 and "up to date" in again.output
