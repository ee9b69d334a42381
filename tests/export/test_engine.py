"""`edgeprune export --format engine`: what a machine without TensorRT says, the options it
checks first, and (with TensorRT and a GPU; skipped here with the reason) that the engine's
detections equal ONNX Runtime's. The sidecar's checks are tests/trt/test_engine_file.py."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.models import create, save_checkpoint
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.detector import Detector
from edgeprune.trt.engine_file import read_sidecar
from tests.helpers import randomize_weights

TENSORRT = importlib.util.find_spec("tensorrt") is not None
NEEDS_TENSORRT = pytest.mark.skipif(
    not TENSORRT, reason="TensorRT is not installed here (its PyPI package downloads from "
    "NVIDIA's index); runs on a Jetson or a GPU box with `pip install tensorrt cuda-bindings`")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def tiny_checkpoint(tmp_path):
    model = randomize_weights(create("yolov3-tiny", num_classes=2, width=0.25), seed=3)
    path = tmp_path / "tiny.pt"
    save_checkpoint(Checkpoint(model, ["car", "bus"], (64, 64)), path)
    return path


@pytest.mark.skipif(TENSORRT, reason="TensorRT is installed: the missing-package path is moot")
def test_without_tensorrt_export_and_detector_say_so(tmp_path, tiny_checkpoint):
    run = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--precision",
                 "fp16", "-o", tmp_path / "tiny.engine")
    assert run.exit_code == 1
    assert "TensorRT's Python package is not installed" in run.output
    assert "pip install tensorrt" in run.output and "Traceback" not in run.output
    assert not (tmp_path / "tiny.engine").exists()
    (tmp_path / "copied.engine").write_bytes(b"an engine from elsewhere")
    with pytest.raises(EdgepruneError, match="copied.engine: TensorRT's Python package"):
        Detector(tmp_path / "copied.engine")


def test_engine_options_are_checked_before_anything_is_built(tmp_path, tiny_checkpoint):
    no_calib = invoke("export", "--weights", tiny_checkpoint, "--format", "engine",
                      "--precision", "int8")
    assert no_calib.exit_code == 1 and "--precision int8 needs --calib" in no_calib.output
    wrong_format = invoke("export", "--weights", tiny_checkpoint, "--format", "onnx",
                          "--precision", "fp16")
    assert wrong_format.exit_code == 1
    assert "--precision fp16: only for --format engine" in wrong_format.output
    # the spellings of the last release: --half and --int8 hand their precision on, warning
    old = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--int8")
    assert old.exit_code == 1 and "--precision int8 needs --calib" in old.output
    assert "--int8 is deprecated" in old.output
    old = invoke("export", "--weights", tiny_checkpoint, "--format", "onnx", "--half")
    assert old.exit_code == 1 and "--precision fp16: only for --format engine" in old.output
    with pytest.raises(EdgepruneError, match="nothing.engine: engine file not found"):
        Detector(tmp_path / "nothing.engine")


@NEEDS_TENSORRT
@pytest.mark.parametrize("half", [False, True])
def test_engine_detections_equal_onnx_runtime_for_batches(tmp_path, tiny_checkpoint, half):
    out = tmp_path / "tiny.engine"
    run = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--input-batch", 4,
                 "-o", out, "--timing-cache", tmp_path / "timing.cache",
                 *(["--precision", "fp16"] if half else []))
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
    again = invoke("export", "--weights", tiny_checkpoint, "--format", "engine", "--input-batch", 4,
                   "-o", out, "--skip-if-current", *(["--precision", "fp16"] if half else []))
    assert again.exit_code == 0 and "up to date" in again.output
