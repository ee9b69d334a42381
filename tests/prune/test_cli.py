"""`edgeprune prune` as a user runs it."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import Checkpoint, create, load_checkpoint, load_model, save_checkpoint
from edgeprune.models.counting import count_params
from edgeprune.prune import PruneSpec, load_spec, prune_checkpoint, save_spec
from edgeprune.prune.recalibrate import recalibrate_bn
from tests.helpers import randomize_weights
from tests.prune.prune_helpers import image

IMGSZ = 64


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def base(tmp_path):
    model = randomize_weights(create("yolov3", num_classes=3, width=0.125, imgsz=IMGSZ),
                              imgsz=(IMGSZ, IMGSZ))
    ckpt = Checkpoint(model, ["truck", "bus", "car"], (IMGSZ, IMGSZ), {"builtin": "yolov3"})
    return save_checkpoint(ckpt, tmp_path / "base.pt")


def test_uniform_prune_writes_checkpoint_spec_and_report(tmp_path, base):
    out = run("prune", "--weights", base, "--uniform", "0.5", "--round-to", "1",
              "--min-channels", "1", "-o", tmp_path / "pruned.pt", "--out", tmp_path / "runs")
    assert "parameters" in out and "changed layers" in out and "0.2" in out
    pruned = load_checkpoint(tmp_path / "pruned.pt")
    spec = PruneSpec.uniform(0.5, round_to=1, min_channels=1)
    assert pruned.provenance["spec_hash"] == spec.hash
    assert pruned.provenance["pruned_from"]["base"] == str(base)
    assert pruned.names == ["truck", "bus", "car"]
    run_dir = tmp_path / "runs" / "prune" / "exp"
    assert load_spec(run_dir / "spec.yaml") == spec
    report = json.loads((run_dir / "report.json").read_text())
    assert report["params_after"] == count_params(pruned.model.cfg)
    assert report["params_before"] == count_params(load_checkpoint(base).model.cfg)


def test_spec_file_and_shortcuts_combine(tmp_path, base):
    spec_path = save_spec(PruneSpec.create(drop_blocks=[1], ratios={12: 0.5}, round_to=1,
                                           min_channels=1), tmp_path / "spec.yaml")
    run("prune", "--weights", base, "--spec", spec_path, "--drop-blocks", "3,5",
        "--out", tmp_path / "runs", "--name", "combo")
    pruned = load_checkpoint(tmp_path / "runs" / "prune" / "combo" / "pruned.pt")
    spec = PruneSpec.from_dict(pruned.provenance["spec"])
    assert spec.drop_blocks == (1, 3, 5) and spec.ratio_map == {12: 0.5}
    assert len(pruned.model.cfg.layers) == 107 - 9


def test_darknet_format_holds_the_same_model(tmp_path, base):
    args = ["prune", "--weights", base, "--uniform", "0.4", "--drop-blocks", "2",
            "--round-to", "1", "--min-channels", "1", "--importance", "l2",
            "--out", tmp_path / "runs"]
    run(*args, "-o", tmp_path / "pruned.pt")
    out = run(*args, "--format", "darknet", "-o", tmp_path / "darknet")
    assert "pruned.weights" in out
    files = {p.name for p in (tmp_path / "darknet").iterdir()}
    assert files == {"pruned.cfg", "pruned.weights", "pruned.names", "pruned.darknet.json"}
    from_darknet = load_model(tmp_path / "darknet" / "pruned.weights",
                              tmp_path / "darknet" / "pruned.cfg")
    from_checkpoint = load_checkpoint(tmp_path / "pruned.pt")
    assert from_darknet.model.cfg == from_checkpoint.model.cfg
    x = image(IMGSZ)
    with torch.no_grad():
        torch.testing.assert_close(from_darknet.model(x), from_checkpoint.model(x))


def test_recalibration_from_a_dataset(tmp_path, base):
    from edgeprune.data.batches import image_batches
    from tests.datagen_helpers import write_dataset

    data, _, _ = write_dataset(tmp_path / "data", train=6, val=2, height=48, width=64)
    out = run("prune", "--weights", base, "--uniform", "0.5", "--round-to", "1",
              "--min-channels", "1", "--recal-batches", "3", "--data", data,
              "--recal-batch", "2", "-o", tmp_path / "pruned.pt", "--out", tmp_path / "runs")
    assert "parameters" in out
    pruned = load_checkpoint(tmp_path / "pruned.pt")
    assert pruned.provenance["bn_recalibration"] == {"data": str(data), "batches": 3,
                                                     "batch_size": 2}
    expected = prune_checkpoint(load_checkpoint(base),
                                PruneSpec.uniform(0.5, round_to=1, min_channels=1))
    stale = expected.model.layers[5].bn.running_mean.clone()
    recalibrate_bn(expected.model, image_batches(data, (IMGSZ, IMGSZ), 2, 3), 3)
    got = pruned.model.layers[5].bn.running_mean
    torch.testing.assert_close(got, expected.model.layers[5].bn.running_mean)
    assert not torch.allclose(got, stale)


def test_errors_are_one_line_not_tracebacks(tmp_path, base):
    out = run("prune", "--weights", base, "--out", tmp_path / "runs", code=1)
    assert "nothing to prune: give --spec, --uniform or --drop-blocks" in out
    out = run("prune", "--weights", base, "--drop-blocks", "3,99", "--out", tmp_path / "runs",
              code=1)
    assert "drop_blocks: block 99 does not exist (the model has 23 residual blocks" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("ratios: {81: 0.5}\n")
    out = run("prune", "--weights", base, "--spec", bad, "--out", tmp_path / "runs", code=1)
    assert f"{bad}: ratios: layer 81 cannot be pruned" in out
    out = run("prune", "--weights", base, "--uniform", "0.5", "--importance", "taylor",
              "--out", tmp_path / "runs", code=1)
    assert "unknown importance criterion 'taylor'" in out
    assert "Traceback" not in out
    assert not (tmp_path / "runs").exists()  # no empty run folders left behind


def test_usage_errors(tmp_path, base):
    out = run("prune", "--weights", base, "--uniform", "0.5", "--recal-batches", "4", code=2)
    assert "--recal-batches needs --data" in out
    out = run("prune", "--weights", base, "--uniform", "0.5", "--data", "d.yaml", code=2)
    assert "add --recal-batches N" in out
    out = run("prune", "--weights", base, "--drop-blocks", "3,five", code=2)
    assert "expected block indices like 3,5,7" in out
    out = run("prune", "--weights", base, "--uniform", "1.5", code=2)
    assert "--uniform" in out
