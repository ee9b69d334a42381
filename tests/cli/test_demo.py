"""`edgeprune demo` end to end on the embedded default."""

from __future__ import annotations

from click.testing import CliRunner

from edgeprune.cli import main


def test_demo_builds_exports_and_checks(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--imgsz", "128"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "demo" / "exp"
    for name in ("model.pt", "model.onnx", "darknet/model.cfg", "darknet/model.weights"):
        assert (run / name).is_file()
    assert "agree" in result.output and "DISAGREE" not in result.output
