"""`edgeprune supernet train|extract` and `edgeprune search --supernet` through the CLI: a run
killed with SIGKILL resumes to the uninterrupted result, the proxy runs inside a real search,
and a file made for another base gets one clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import Checkpoint, load_checkpoint, save_checkpoint
from edgeprune.search.records import CandidateLog
from edgeprune.supernet.file import load_supernet

CLI = [sys.executable, "-c", "from edgeprune.cli import main; main()"]


def train_args(setup, out: Path, name: str, *extra: str) -> list[str]:
    return ["supernet", "train", "--weights", str(setup.weights), "--data", str(setup.data),
            "--form", "slimmable", "--epochs", "2", "--batch", "4", "--workers", "0",
            "--torch-threads", "1", "--out", str(out), "--name", name, *extra]


def saved_step(run: Path) -> int:
    try:
        return int(torch.load(run / "last.pt", weights_only=True)["train_state"]["step"])
    except Exception:  # not written yet, or being replaced
        return 0


@pytest.mark.slow  # two trainings; the supernet's CLI is covered by the search test here
def test_sigkilled_training_resumes_to_the_uninterrupted_result(search_setup, tmp_path):
    runner = CliRunner()
    whole = runner.invoke(main, train_args(search_setup, tmp_path, "whole"))
    assert whole.exit_code == 0, whole.output
    assert "supernet.pt" in whole.output and "largest sub-network" in whole.output

    run = tmp_path / "supernet" / "killed"
    process = subprocess.Popen(CLI + train_args(search_setup, tmp_path, "killed",
                                                "--save-every", "1"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 240
        while saved_step(run) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not (run / "supernet.pt").exists() and 2 <= saved_step(run) < 6
    resumed = runner.invoke(main, ["supernet", "train", "--resume", str(run)])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output
    a = load_supernet(tmp_path / "supernet" / "whole" / "supernet.pt").net.state_dict()
    b = load_supernet(run / "supernet.pt").net.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    again = runner.invoke(main, ["supernet", "train", "--resume", str(run)])
    assert again.exit_code == 1 and "nothing to resume" in again.output


def test_search_scores_candidates_with_the_weight_sharing_network(search_setup,
                                                                  trained_supernets, tmp_path):
    supernet = trained_supernets["pruningnet"]
    result = CliRunner().invoke(main, search_setup.args(
        "--target-speedup", "1.25", "--supernet", str(supernet), "--out", str(tmp_path),
        "--name", "sn", budget=3, agent="gcn"))
    assert result.exit_code == 0, result.output
    run = tmp_path / "search" / "sn"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["proxy"] == "pruningnet"
    assert config["proxy_settings"]["supernet"] == str(supernet)
    records = CandidateLog(run).read()
    assert len(records) == 3 and all(0 <= r.accuracy <= 1 for r in records)
    best = load_checkpoint(run / "best.pt")
    assert best.provenance["search"]["accuracy_proxy"] == "pruningnet"
    # the best network (what fine-tuning starts from) carries the shared weights
    best_spec = next(r for r in records if r.spec_hash == best.provenance["spec_hash"])
    extracted = load_supernet(supernet).net.extract(best_spec.spec)
    assert extracted.cfg == best.model.cfg
    for index in (0, 1, len(best.model.cfg.layers) - 2):
        shared = extracted.layers[index].conv.weight
        assert torch.equal(best.model.layers[index].conv.weight, shared)


def test_supernet_of_another_base_or_form_is_one_clear_error(search_setup, trained_supernets,
                                                              tmp_path):
    other = load_checkpoint(search_setup.weights)
    with torch.no_grad():
        other.model.layers[0].conv.weight.mul_(1.5)
    other_weights = save_checkpoint(Checkpoint(other.model, other.names, other.imgsz),
                                    tmp_path / "other.pt")
    args = search_setup.args("--target-speedup", "1.25", "--out", str(tmp_path))
    args[args.index("--weights") + 1] = str(other_weights)
    result = CliRunner().invoke(main, [*args, "--supernet",
                                       str(trained_supernets["pruningnet"])])
    assert result.exit_code == 1
    assert "trained from another base model" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3

    wrong_form = CliRunner().invoke(main, search_setup.args(
        "--target-speedup", "1.25", "--out", str(tmp_path), "--proxy", "pruningnet",
        "--supernet", str(trained_supernets["slimmable"])))
    assert wrong_form.exit_code == 1 and "use --proxy slimmable" in wrong_form.output

    grid = CliRunner().invoke(main, search_setup.args(
        "--target-speedup", "1.25", "--out", str(tmp_path), "--round-to", "4",
        "--supernet", str(trained_supernets["slimmable"])))
    assert grid.exit_code == 1 and "trained with --round-to 8" in grid.output

    not_a_file = CliRunner().invoke(main, search_setup.args(
        "--target-speedup", "1.25", "--out", str(tmp_path),
        "--supernet", str(search_setup.weights)))
    assert not_a_file.exit_code == 1 and "not a weight-sharing network file" in not_a_file.output


def test_extract_writes_a_recalibrated_checkpoint(search_setup, trained_supernets, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("drop_blocks: [2]\ndefault_ratio: 0.5\n")
    out = tmp_path / "sub.pt"
    result = CliRunner().invoke(main, ["supernet", "extract", "--supernet",
                                       str(trained_supernets["pruningnet"]), "--spec", str(spec),
                                       "--data", str(search_setup.data), "--recal-batches", "2",
                                       "--recal-batch", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(out)
    assert ckpt.provenance["extracted_from"]["form"] == "pruningnet"
    assert ckpt.provenance["bn_recalibration"]["batches"] == 2
    base = load_checkpoint(search_setup.weights)
    assert len(ckpt.model.cfg.layers) < len(base.model.cfg.layers)

    outside = tmp_path / "outside.yaml"
    outside.write_text("default_ratio: 0.5\nround_to: 4\n")
    refused = CliRunner().invoke(main, ["supernet", "extract", "--supernet",
                                        str(trained_supernets["pruningnet"]), "--spec",
                                        str(outside), "--out", str(tmp_path / "x.pt")])
    assert refused.exit_code == 1 and "multiples of 4" in refused.output
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("missing", ["--weights", "--data"])
def test_train_without_required_input_is_one_clear_error(search_setup, tmp_path, missing):
    args = train_args(search_setup, tmp_path, "x")
    index = args.index(missing)
    del args[index:index + 2]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and f"{missing} (" in result.output
