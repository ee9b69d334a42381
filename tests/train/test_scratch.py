"""`edgeprune scratch`: the thinner model a user would train instead, at a matched latency."""

from __future__ import annotations

import json

from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import load_checkpoint
from tests.conftest import FAST_PROTOCOL


def test_scratch_trains_the_widest_model_within_the_target(search_setup, tmp_path):
    result = CliRunner().invoke(main, [
        "scratch", "--data", str(search_setup.data), "--weights", str(search_setup.weights),
        "--target-speedup", "1.25", "--epochs", "1", "--batch", "4", "--workers", "0",
        "--ort-threads", "1", "--no-latency-cache", *FAST_PROTOCOL, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "scratch" / "exp"
    record = json.loads((run / "scratch.json").read_text())
    assert record["model"] == "yolov3" and 0 < record["width"] <= 1
    # the widest within the target: timed against the base in one window, like candidates
    assert record["latency_ratio"] <= 1 / 1.25 or record["width"] == 1 / 64
    trained = load_checkpoint(run / "best.pt")
    assert trained.names == load_checkpoint(search_setup.weights).names
    assert "trained 1 epochs" in result.output


def test_scratch_needs_exactly_one_target(search_setup, tmp_path):
    args = ["scratch", "--data", str(search_setup.data), "--weights", str(search_setup.weights)]
    none = CliRunner().invoke(main, args)
    assert none.exit_code == 1 and "give one of --width" in none.output
    two = CliRunner().invoke(main, [*args, "--width", "0.1", "--target-speedup", "2"])
    assert two.exit_code == 1 and "give one of" in two.output


def test_scratch_trains_a_searched_architecture_from_scratch(search_setup, tmp_path):
    """Liu et al.'s row: the architecture a search found (its best.pt), weights dropped,
    trained from scratch on the same data and timed against the same base."""
    import torch

    from edgeprune.models import save_checkpoint
    from edgeprune.prune import PruneSpec, prune_checkpoint

    base = load_checkpoint(search_setup.weights)
    found = save_checkpoint(prune_checkpoint(base, PruneSpec.create(drop_blocks=[1, 4],
                                                                   default_ratio=0.5)),
                            tmp_path / "best.pt")
    result = CliRunner().invoke(main, [
        "scratch", "--data", str(search_setup.data), "--weights", str(search_setup.weights),
        "--cfg", str(found), "--epochs", "1", "--batch", "4", "--workers", "0",
        "--ort-threads", "1", "--no-latency-cache", *FAST_PROTOCOL, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "scratch" / "exp"
    record = json.loads((run / "scratch.json").read_text())
    assert record["model"] == "best" and 0 < record["latency_ratio"] < 1
    trained = load_checkpoint(run / "best.pt")
    searched = load_checkpoint(found)
    assert trained.model.cfg.layers == searched.model.cfg.layers  # the same architecture
    assert any(not torch.equal(a, b) for a, b in zip(  # its own weights, from scratch
        trained.model.state_dict().values(), searched.model.state_dict().values(),
        strict=True))
    assert (run / "best.cfg").is_file()
