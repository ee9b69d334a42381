"""`edgeprune regime`: the four checks a base and a device must pass before pruning results
taken there mean anything, each measured and said plainly when it fails."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import Checkpoint, create, save_checkpoint
from tests.conftest import FAST_PROTOCOL


def run_regime(setup, weights, tmp_path, *extra):
    return CliRunner().invoke(main, [
        "regime", "--weights", str(weights), "--data", str(setup.data), "--ort-threads", "1",
        "--no-latency-cache", *FAST_PROTOCOL, "--out", str(tmp_path), "--json", *extra])


def test_an_unconverged_base_fails_and_says_how_to_train_it(search_setup, tmp_path):
    result = run_regime(search_setup, search_setup.weights, tmp_path, "--name", "bare")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output[result.output.index("{"):])
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == ["converged", "latency follows compute", "base beats yolov3-tiny",
                            "yolov3-tiny against the targets"]
    assert checks["converged"]["passed"] is False and "--plateau" in checks["converged"]["reason"]
    assert checks["base beats yolov3-tiny"]["passed"] is None  # no --tiny given
    speedup = checks["latency follows compute"]
    assert "fewer FLOPs" in speedup["measured"] and isinstance(speedup["passed"], bool)
    assert "x faster than the base" in checks["yolov3-tiny against the targets"]["measured"]
    assert (tmp_path / "regime" / "bare" / "regime.json").is_file()


def test_a_converged_base_with_a_tiny_rival_is_checked_in_full(search_setup, tmp_path):
    base_run = tmp_path / "base"
    base_run.mkdir()
    weights = shutil.copy(search_setup.weights, base_run / "best.pt")
    (base_run / "plateau.json").write_text(json.dumps(
        {"window": 3, "gain": 0.005, "stopped_after_epoch": 12, "reason": "converged: ..."}))
    # what the base really trained (its results.csv), not the epochs it was allowed
    (base_run / "results.csv").write_text(
        "epoch,box,obj,cls,extra,lr,train_seconds,map50\n"
        + "".join(f"{epoch},0.1,0.1,0.1,0,0.001,1.0,0.5\n" for epoch in range(1, 13)))
    names = ["red_armor", "red_robot", "blue_robot", "dead_robot", "blue_armor"]
    tiny = save_checkpoint(Checkpoint(create("yolov3-tiny", num_classes=5, width=0.25,
                                             imgsz=64), names, (64, 64), {}),
                           tmp_path / "tiny.pt")
    result = run_regime(search_setup, weights, tmp_path, "--tiny", str(tiny), "--name", "full")
    report = json.loads(result.output[result.output.index("{"):])
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["converged"]["passed"] is True
    versus = checks["base beats yolov3-tiny"]
    assert isinstance(versus["passed"], bool) and "yolov3-tiny" in versus["measured"]
    assert "(12 and ? epochs trained)" in versus["measured"]  # the tiny records neither
    assert result.exit_code == (0 if report["passed"] else 1)
    markdown = (tmp_path / "regime" / "full" / "regime.md").read_text()
    assert "| converged | stopped after epoch 12 | pass |" in markdown
