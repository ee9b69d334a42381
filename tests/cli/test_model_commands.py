"""`edgeprune info` and `edgeprune export` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import create, load_checkpoint, write_cfg_text, write_darknet_weights
from edgeprune.models.weights import WeightsHeader
from tests.helpers import randomize_weights


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_info_json_on_builtin_names():
    data = json.loads(run("info", "yolov3", "--json"))
    assert data["params"] == 61_949_149
    assert data["gflops"] == pytest.approx(65.9, rel=0.02)
    assert len(data["residual_blocks"]) == 23 and data["layers"] == 107
    assert json.loads(run("info", "yolov3", "--classes", "5", "--json"))["params"] == 61_545_274
    at_320 = json.loads(run("info", "yolov3", "--imgsz", "320", "--json"))["gflops"]
    assert at_320 == pytest.approx(data["gflops"] * (320 / 416) ** 2, rel=1e-6)


def test_info_agrees_across_cfg_checkpoint_and_onnx(tmp_path):
    model = create("yolov3-tiny", num_classes=3, width=0.25)
    cfg_path = tmp_path / "tiny.cfg"
    cfg_path.write_text(write_cfg_text(model.cfg))
    run("export", "--cfg", str(cfg_path), "--format", "checkpoint", "-o", str(tmp_path / "t.pt"))
    run("export", "--weights", str(tmp_path / "t.pt"), "--imgsz", "320",
        "-o", str(tmp_path / "t.onnx"))
    infos = [json.loads(run("info", str(p), "--imgsz", "320", "--json"))
             for p in (cfg_path, tmp_path / "t.pt", tmp_path / "t.onnx")]
    assert len({(i["params"], round(i["gflops"], 9), i["layers"]) for i in infos}) == 1
    table = run("info", str(cfg_path))
    assert f"{infos[0]['params']:,}" in table and "residual blocks" in table


def test_export_darknet_from_darknet_keeps_bytes(tmp_path):
    model = randomize_weights(create("yolov3", num_classes=2, width=0.125))
    (tmp_path / "m.cfg").write_text(write_cfg_text(model.cfg))
    write_darknet_weights(model, tmp_path / "m.weights", WeightsHeader(0, 2, 5, 123456))
    (tmp_path / "m.names").write_text("red\nblue\n")
    run("export", "--cfg", str(tmp_path / "m.cfg"), "--weights", str(tmp_path / "m.weights"),
        "--names", str(tmp_path / "m.names"), "--format", "checkpoint",
        "-o", str(tmp_path / "m.pt"))
    assert load_checkpoint(tmp_path / "m.pt").names == ["red", "blue"]
    out = run("export", "--weights", str(tmp_path / "m.pt"), "--format", "darknet",
              "-o", str(tmp_path / "out"))
    assert "weights" in out
    assert (tmp_path / "out/m.weights").read_bytes() == (tmp_path / "m.weights").read_bytes()
    assert (tmp_path / "out/m.cfg").read_text() == (tmp_path / "m.cfg").read_text()
    assert (tmp_path / "out/m.names").read_text() == "red\nblue\n"


def test_export_onnx_from_darknet_files(tmp_path):
    model = randomize_weights(create("yolov3-tiny", num_classes=2, width=0.25))
    (tmp_path / "m.cfg").write_text(write_cfg_text(model.cfg))
    write_darknet_weights(model, tmp_path / "m.weights")
    out = run("export", "--cfg", str(tmp_path / "m.cfg"), "--weights",
              str(tmp_path / "m.weights"), "--imgsz", "416", "--format", "onnx",
              "-o", str(tmp_path / "m.onnx"))
    assert "max abs diff" in out and (tmp_path / "m.onnx").stat().st_size > 0


def test_user_errors_are_one_line_not_tracebacks(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[net]\nwidth=416\n\n[convolutional]\nfilters=abc\n")
    out = run("export", "--cfg", str(bad), "-o", str(tmp_path / "x.onnx"), code=1)
    assert f"error: {bad}:5: filters: expected an integer, got 'abc'" in out
    assert "Traceback" not in out
    short = tmp_path / "short.weights"
    short.write_bytes(b"\0" * 64)
    good = tmp_path / "good.cfg"
    good.write_text(write_cfg_text(create("yolov3-tiny", num_classes=2, width=0.25).cfg))
    out = run("export", "--cfg", str(good), "--weights", str(short), code=1)
    assert "floats" in out and "truncated" in out
    out = run("info", "no-such-model", code=1)
    assert "not a built-in model" in out
    out = run("export", "--weights", str(short), code=1)
    assert "add --cfg" in out


def test_console_script_runs_in_a_fresh_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "edgeprune", "info", "yolov3-tiny", "--json"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["params"] == 8_852_366
