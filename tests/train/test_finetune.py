"""Distillation loss and `edgeprune finetune` on a tiny pruned model."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.models import create, load_checkpoint, save_checkpoint
from edgeprune.prune import PruneSpec, prune_checkpoint
from edgeprune.train.distill import Distillation, bernoulli_kl, check_same_heads
from tests.helpers import randomize_weights

# As when these ran with the search tests: tiny models on one thread, a private latency cache.
pytestmark = pytest.mark.usefixtures("private_latency_cache", "one_torch_thread")


def test_bernoulli_kl_is_zero_only_for_equal_distributions():
    logits = torch.tensor([-3.0, 0.0, 2.5])
    assert torch.allclose(bernoulli_kl(logits, logits), torch.zeros(3), atol=1e-6)
    assert (bernoulli_kl(logits + 1, logits) > 0).all()
    p, q = torch.sigmoid(torch.tensor(0.5)), torch.sigmoid(torch.tensor(-1.0))
    expected = p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))
    assert bernoulli_kl(torch.tensor(-1.0), torch.tensor(0.5)) == pytest.approx(float(expected))


def test_distillation_teaches_the_student_and_leaves_the_teacher_alone():
    teacher = randomize_weights(create("yolov3", num_classes=3, width=0.125, imgsz=64), seed=1)
    images = torch.rand(2, 3, 64, 64)
    distill = Distillation(teacher, weight=2.0, confident=0.3)
    state = {k: v.clone() for k, v in teacher.state_dict().items()}

    same = distill(images, distill.teacher_outputs(images), torch.zeros(0, 6))
    assert float(same) == pytest.approx(0.0, abs=1e-5)

    student_model = randomize_weights(create("yolov3", num_classes=3, width=0.125, imgsz=64),
                                      seed=2).train()
    outputs = student_model(images)
    loss = distill(images, outputs, torch.zeros(0, 6))
    assert float(loss.detach()) > 0
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student_model.parameters())
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in state.items())  # no BN drift
    with pytest.raises(EdgepruneError, match="must be >= 0"):
        Distillation(teacher, weight=-1)


def test_a_teacher_with_other_heads_is_refused():
    five = create("yolov3", num_classes=5, width=0.125)
    three = create("yolov3", num_classes=3, width=0.125)
    check_same_heads(three, create("yolov3", num_classes=3, width=0.25))
    with pytest.raises(EdgepruneError, match="different yolo heads"):
        check_same_heads(five, three, "base.pt", "pruned.pt")


def test_finetune_cli_reports_before_and_after(search_setup, tmp_path):
    base = load_checkpoint(search_setup.weights)
    pruned = prune_checkpoint(base, PruneSpec.create(drop_blocks=[1, 4], default_ratio=0.5),
                              base=str(search_setup.weights))
    weights = save_checkpoint(pruned, tmp_path / "pruned.pt")
    result = CliRunner().invoke(main, [  # the teacher: the base recorded in the provenance
        "finetune", "--weights", str(weights), "--data", str(search_setup.data), "--epochs",
        "1", "--batch", "4", "--workers", "0", "--out", str(tmp_path), "--name", "ft"])
    assert result.exit_code == 0, result.output
    for row in ("teacher", "before fine-tuning", "after (best.pt)"):
        assert row in result.output
    run = tmp_path / "finetune" / "ft"
    tuned = load_checkpoint(run / "best.pt")
    assert (run / "last.pt").is_file() and tuned.model.cfg.layers == pruned.model.cfg.layers
    recorded = tuned.provenance["finetune"]
    assert recorded["teacher"] == str(search_setup.weights) and recorded["distill_weight"] == 1.0
    assert recorded["student_provenance"]["spec_hash"] == pruned.provenance["spec_hash"]

    assert f"with distillation from {search_setup.weights}" in result.output

    result = CliRunner().invoke(main, ["finetune", "--weights", str(weights), "--epochs", "1"])
    assert result.exit_code == 1 and "--data is required" in result.output
    other = save_checkpoint(load_checkpoint(weights), tmp_path / "other.pt")
    wrong = create("yolov3", num_classes=3, width=0.125, imgsz=64)
    from edgeprune.models import Checkpoint

    teacher = save_checkpoint(Checkpoint(wrong, ["a", "b", "c"], (64, 64)), tmp_path / "t.pt")
    result = CliRunner().invoke(main, ["finetune", "--weights", str(other), "--teacher",
                                       str(teacher), "--data", str(search_setup.data),
                                       "--out", str(tmp_path)])
    assert result.exit_code == 1 and "different yolo heads" in result.output
    result = CliRunner().invoke(main, ["finetune", "--weights", str(teacher), "--no-teacher",
                                       "--data", str(search_setup.data), "--out",
                                       str(tmp_path)])
    assert result.exit_code == 1 and "detects 3 classes" in result.output
    assert not (tmp_path / "finetune" / "exp").exists()


def test_best_pt_is_never_worse_than_the_model_as_given(search_setup, tmp_path):
    """An epoch that makes the model worse (here: a learning rate that wrecks it) does not
    replace it: the starting model is scored first and stays best.pt until beaten."""
    base = load_checkpoint(search_setup.weights)
    weights = save_checkpoint(base, tmp_path / "start.pt")
    result = CliRunner().invoke(main, [
        "finetune", "--weights", str(weights), "--data", str(search_setup.data), "--no-teacher",
        "--epochs", "1", "--batch", "4", "--workers", "0", "--lr", "0.5", "--out",
        str(tmp_path), "--name", "wrecked"])
    assert result.exit_code == 0, result.output
    assert "no epoch beat the model as given" in result.output
    kept = load_checkpoint(tmp_path / "finetune" / "wrecked" / "best.pt")
    assert kept.provenance["epochs"] == 0
    assert all(torch.equal(value, base.model.state_dict()[key])
               for key, value in kept.model.state_dict().items())
    last = load_checkpoint(tmp_path / "finetune" / "wrecked" / "last.pt")
    assert not all(torch.equal(value, base.model.state_dict()[key])  # it did train
                   for key, value in last.model.state_dict().items())


def test_fine_tuning_length_follows_the_base_training(search_setup, tmp_path):
    """Without --epochs: --base-share of what the base trained, read from its run's
    results.csv beside the teacher (a plateau stop included), else its recorded plan."""
    import shutil

    from edgeprune.train.finetune import base_epochs, share_of_base
    from edgeprune.train.run_files import EpochStats, write_results

    run = tmp_path / "base-run"
    run.mkdir()
    teacher = shutil.copy(search_setup.weights, run / "best.pt")
    write_results(run, [EpochStats(e, 0.1, 0.1, 0.1, 0.0, 0.001, 1.0, 0.5, 0.3)
                        for e in range(1, 11)])
    assert base_epochs(teacher) == (10, f"{run / 'results.csv'}")
    assert share_of_base(teacher, 0.3)[0] == 3 and share_of_base(teacher, 0.01)[0] == 1
    with pytest.raises(EdgepruneError, match="give --epochs"):
        base_epochs(search_setup.weights)  # no results.csv and no plan recorded
    base = load_checkpoint(teacher)
    pruned = save_checkpoint(prune_checkpoint(base, PruneSpec.uniform(0.5), base=str(teacher)),
                             tmp_path / "pruned.pt")
    result = CliRunner().invoke(main, [
        "finetune", "--weights", str(pruned), "--data", str(search_setup.data),
        "--base-share", "0.1", "--batch", "4", "--workers", "0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "fine-tuning 1 epochs: 0.1 x the base's 10 epochs" in " ".join(result.output.split())


def test_robust_fine_tuning_through_the_cli(search_setup, tmp_path):
    import yaml

    base = load_checkpoint(search_setup.weights)
    pruned = save_checkpoint(prune_checkpoint(base, PruneSpec.uniform(0.5),
                                              base=str(search_setup.weights)),
                             tmp_path / "pruned.pt")
    result = CliRunner().invoke(main, [
        "finetune", "--weights", str(pruned), "--data", str(search_setup.data), "--epochs",
        "1", "--corrupt", "gaussian_noise,jpeg", "--corrupt-severities", "2-3", "--batch", "4",
        "--workers", "0", "--out", str(tmp_path), "--name", "robust"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((tmp_path / "finetune" / "robust" / "config.yaml").read_text())
    assert config["corruptions"] == ["gaussian_noise", "jpeg"]
    assert config["corruption_severities"] == [2, 3] and config["corruption_share"] == 0.5
    bad = CliRunner().invoke(main, ["finetune", "--weights", str(pruned), "--data",
                                    str(search_setup.data), "--epochs", "1", "--corrupt", "fog"])
    assert bad.exit_code == 1 and "unknown corruption fog" in bad.output
