"""Training: the loss, the schedule, start weights, the loop, checkpoints, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.models import create, load_checkpoint
from edgeprune.models.darknet_files import export_darknet
from edgeprune.train import TrainConfig, train
from edgeprune.train.loss import LossConfig, YoloLoss
from edgeprune.train.run_files import read_results
from edgeprune.train.schedule import Schedule
from edgeprune.train.start import start_model
from tests.datagen_helpers import trained_tiny_model, write_dataset

# ------------------------------------------------------------------------------- the loss


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_assignment_follows_anchor_shapes():
    model = create("yolov3", num_classes=2, width=0.125, imgsz=64).train()
    targets = torch.tensor([[0, 0, 200, 200, 116, 90], [0, 1, 50, 50, 10, 13]],
                           dtype=torch.float32)
    darknet_rule = YoloLoss(model, LossConfig(anchor_iou_threshold=1.0))
    target_index, anchor_index = darknet_rule.assign(targets)
    best = {t: a for t, a in zip(target_index.tolist(), anchor_index.tolist(), strict=True)}
    # yolov3's first head holds anchors 6, 7, 8 (116x90 first); the last head 0, 1, 2
    assert darknet_rule.anchors[best[0]].tolist() == [116, 90]
    assert darknet_rule.anchor_head[best[0]] == 0 and darknet_rule.anchor_slot[best[0]] == 0
    assert darknet_rule.anchors[best[1]].tolist() == [10, 13]
    assert darknet_rule.anchor_head[best[1]] == 2
    assert len(target_index) == 2
    extra = YoloLoss(model).assign(targets)[0]  # shape IoU > 0.2 adds neighbouring anchors
    assert len(extra) > 2


def test_perfect_prediction_has_no_box_loss_and_wrong_one_does():
    model = create("yolov3-tiny", num_classes=2, width=0.25, imgsz=64).train()
    loss = YoloLoss(model, LossConfig(anchor_iou_threshold=1.0))
    target = torch.tensor([[0, 1, 40.0, 24.0, 30.0, 20.0]])  # cell (1, 0) of the stride-32 head
    outputs = [torch.full((1, 3, 2, 2, 7), -8.0), torch.full((1, 3, 4, 4, 7), -8.0)]
    anchor = loss.anchors[loss.assign(target)[1][0]]
    head, slot = loss.anchor_head[loss.assign(target)[1][0]], \
        loss.anchor_slot[loss.assign(target)[1][0]]
    stride = 64 / outputs[head].shape[2]
    cx, cy = 40.0 / stride, 24.0 / stride
    raw = outputs[head][0, slot, int(cy), int(cx)]
    raw[0], raw[1] = _logit(cx - int(cx)), _logit(cy - int(cy))
    raw[2], raw[3] = math.log(30.0 / anchor[0]), math.log(20.0 / anchor[1])
    raw[4], raw[5], raw[6] = 8.0, -8.0, 8.0
    perfect = loss(outputs, target, (64, 64))
    assert perfect.box < 1e-5 and perfect.cls < 1e-2 and perfect.obj < 1e-2
    raw[2] += 1.0  # the box is e times too wide
    assert loss(outputs, target, (64, 64)).box > 0.01
    empty = loss(outputs, torch.zeros(0, 6), (64, 64))  # a batch of background images
    assert empty.box == 0.0 and empty.cls == 0.0 and empty.obj > 0


def test_loss_gradients_reach_the_whole_network():
    model = create("yolov3", num_classes=3, width=0.125, imgsz=64).train()
    outputs = model(torch.rand(2, 3, 64, 64))
    targets = torch.tensor([[0, 2, 30, 30, 20, 12], [1, 0, 10, 50, 8, 8]], dtype=torch.float32)
    YoloLoss(model)(outputs, targets, (64, 64)).total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

# ----------------------------------------------------------------------------- schedule


def test_schedule_warms_up_then_follows_a_cosine():
    schedule = Schedule(lr=0.01, epochs=10, iterations_per_epoch=100, warmup_epochs=1)
    lr, bias_lr, momentum = schedule.at(0)
    assert lr == 0 and bias_lr == pytest.approx(0.1) and momentum == pytest.approx(0.8)
    lr, bias_lr, momentum = schedule.at(100)
    assert lr == pytest.approx(bias_lr) and momentum == pytest.approx(0.937)
    assert lr == pytest.approx(schedule.cosine_lr(1.0))
    assert schedule.at(500)[0] == pytest.approx(0.01 * (1 + 0.01) / 2)
    assert schedule.cosine_lr(10) == pytest.approx(0.0001)
    assert all(schedule.at(i)[0] >= schedule.at(i + 1)[0] for i in range(100, 999))
    tiny = Schedule(lr=0.01, epochs=1, iterations_per_epoch=10)
    assert tiny.warmup_iterations == 5  # never more than half a short run

# ------------------------------------------------------------------------- start model


def test_start_from_checkpoint_with_other_classes(tmp_path, trained):
    result = trained[0]
    started = start_model(5, weights=str(result.best))
    assert started.model.num_classes == 5
    assert "resized from 3 to 5 classes" in started.note
    copied, total = started.transferred
    assert 0 < copied < total
    source = load_checkpoint(result.best).model.state_dict()
    target = started.model.state_dict()
    assert torch.equal(source["layers.0.conv.weight"], target["layers.0.conv.weight"])


def test_start_from_darknet_weights(tmp_path, trained):
    ckpt = load_checkpoint(trained[0].best)
    files = export_darknet(ckpt, tmp_path / "darknet")
    started = start_model(3, weights=str(files["weights"]), cfg=str(files["cfg"]))
    assert started.transferred[0] == started.transferred[1]
    images = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(started.model.eval()(images), ckpt.model(images), atol=1e-5)
    with pytest.raises(EdgepruneError, match="nothing to train"):
        start_model(3)
    with pytest.raises(EdgepruneError, match="built-in name"):
        start_model(3, model="resnet50")

# ------------------------------------------------------------------------------ the loop


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_tiny_model(tmp_path_factory.mktemp("trained"))


def test_loss_falls_and_map_rises(trained):
    result = trained[0]
    totals = [s.box + s.obj + s.cls for s in result.history]
    assert np.mean(totals[-2:]) < 0.8 * np.mean(totals[:2])
    assert result.history[-1].map50 > result.history[0].map50 + 0.1
    assert result.best_stats.fitness == max(s.fitness for s in result.history)


def test_run_folder_holds_checkpoints_and_logs(trained):
    result = trained[0]
    best, last = load_checkpoint(result.best), load_checkpoint(result.last)
    assert best.names == ["red_box", "green_disc", "blue_bar"] and best.imgsz == (96, 96)
    assert best.provenance["epochs"] == result.best_epoch
    assert last.provenance["epochs"] == 12 and last.provenance["model"] == "yolov3-tiny width 0.25"
    assert last.provenance["data"].endswith("data.yaml")
    assert "train_state" in torch.load(result.last, weights_only=True)
    assert "train_state" not in torch.load(result.best, weights_only=True)
    assert [s.epoch for s in read_results(result.run_dir)] == list(range(1, 13))
    assert (result.run_dir / "config.yaml").is_file()


def _small_run(tmp_path, epochs=3):
    data_yaml, train_set, val_set = write_dataset(tmp_path / "data", train=16, val=8)
    config = TrainConfig(data=str(data_yaml), model="yolov3-tiny", width=0.125, imgsz=64,
                         epochs=epochs, batch=8, workers=0)
    return config, train_set, val_set


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    config, train_set, val_set = _small_run(tmp_path)
    whole = train(config, tmp_path / "whole", train_data=train_set, val_data=val_set,
                  show_progress=False)

    def stop_after_two(stats):
        if stats.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", train_data=train_set, val_data=val_set,
              show_progress=False, on_epoch_end=stop_after_two)
    assert load_checkpoint(tmp_path / "cut" / "last.pt").provenance["epochs"] == 2
    resumed = train(None, tmp_path / "cut", resume=True, train_data=train_set,
                    val_data=val_set, show_progress=False)
    assert [s.epoch for s in resumed.history] == [1, 2, 3]
    a = torch.load(whole.last, weights_only=True)
    b = torch.load(resumed.last, weights_only=True)
    for name, tensor in a["state_dict"].items():
        assert torch.allclose(tensor.float(), b["state_dict"][name].float(), atol=1e-6), name
    assert resumed.history[-1].map50 == pytest.approx(whole.history[-1].map50, abs=1e-6)
    with pytest.raises(EdgepruneError, match="already trained all 3 epochs"):
        train(None, tmp_path / "cut", resume=True, train_data=train_set, val_data=val_set,
              show_progress=False)
    with pytest.raises(EdgepruneError, match="nothing to resume"):
        train(None, tmp_path / "nowhere", resume=True, show_progress=False)


def test_extra_loss_term_is_trained_and_logged(tmp_path):
    config, train_set, _ = _small_run(tmp_path, epochs=1)
    calls = []

    def shrink_outputs(images, outputs, targets):
        calls.append((images.shape, len(outputs), targets.shape[1]))
        return 0.01 * sum(o.float().pow(2).mean() for o in outputs)

    result = train(config, tmp_path / "run", train_data=train_set, validate=False,
                   extra_loss=shrink_outputs, show_progress=False)
    assert calls and calls[0] == (torch.Size([8, 3, 64, 64]), 2, 6)
    assert result.history[0].extra > 0 and result.history[0].map50 is None
    assert result.final_eval is None and result.best.is_file()


def test_a_config_saved_before_the_rename_reads_its_torch_device_and_threads():
    from edgeprune.train.config import renamed_fields

    old = {"data": "d.yaml", "device": "cpu", "threads": 3, "epochs": 2}
    config = TrainConfig.from_dict(old)
    assert (config.torch_device, config.torch_threads, config.epochs) == ("cpu", 3, 2)
    assert TrainConfig.from_dict(config.to_dict()) == config  # the new names round-trip
    # a config with both spellings (never written by edgeprune) keeps the new one
    assert renamed_fields({"device": "cpu", "torch_device": "cuda"})["torch_device"] == "cuda"


def test_the_plateau_rule_decides_from_the_validated_epochs():
    from edgeprune.train.plateau import PlateauRule

    rule = PlateauRule(window=2, gain=0.01)
    assert rule.verdict([0.1, 0.2]) is None  # not enough epochs to judge
    assert rule.verdict([0.1, 0.2, 0.3, 0.35]) is None  # +0.15 over the last two
    verdict = rule.verdict([0.1, 0.5, 0.505, 0.49])
    assert verdict.startswith("converged") and "+0.0050" in verdict
    with pytest.raises(EdgepruneError, match="--plateau must be at least 1"):
        PlateauRule(window=0)
    # a training that has not started to learn (warm-up on a small set) is not converged:
    # scores that a real base had after 4 epochs, and a model that learns nothing at all
    slow_start = PlateauRule(window=3, gain=0.005)
    assert slow_start.verdict([0.0, 0.0, 8.7e-05, 0.00015]) is None
    assert slow_start.verdict([0.0, 0.0, 0.0, 0.0]) is None
    assert slow_start.verdict([0.01, 0.03, 0.033, 0.034, 0.034]) is None  # +0.004: 13%
    # on a converged curve the absolute gain decides, as before
    assert slow_start.verdict([0.80, 0.86, 0.862, 0.864, 0.863]).startswith("converged")


def test_the_plateau_rule_stops_a_training_and_a_killed_one_resumes_to_it(tmp_path):
    """A gain nothing reaches stops training once the window has passed; a run killed before
    resumes and stops at the same epoch with the same weights, and then has nothing left."""
    from edgeprune.train.plateau import PLATEAU_FILE, read_verdict

    config, train_set, val_set = _small_run(tmp_path, epochs=6)
    config.plateau_window, config.plateau_gain = 1, 0.99
    whole = train(config, tmp_path / "whole", train_data=train_set, val_data=val_set,
                  show_progress=False)
    assert [s.epoch for s in whole.history] == [1, 2]
    assert whole.stop_reason.startswith("converged")
    assert read_verdict(tmp_path / "whole")["stopped_after_epoch"] == 2

    def stop_after_one(stats):
        if stats.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", train_data=train_set, val_data=val_set,
              show_progress=False, on_epoch_end=stop_after_one)
    assert not (tmp_path / "cut" / PLATEAU_FILE).exists()
    resumed = train(None, tmp_path / "cut", resume=True, train_data=train_set,
                    val_data=val_set, show_progress=False)
    assert [s.epoch for s in resumed.history] == [1, 2]
    assert resumed.stop_reason == whole.stop_reason
    a = torch.load(whole.last, weights_only=True)["state_dict"]
    b = torch.load(resumed.last, weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    with pytest.raises(EdgepruneError, match="stopped by the plateau rule after epoch 2"):
        train(None, tmp_path / "cut", resume=True, train_data=train_set, val_data=val_set,
              show_progress=False)
