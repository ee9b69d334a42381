"""Self-describing checkpoints."""

from __future__ import annotations

import pytest
import torch

from edgeprune.errors import WeightsError
from edgeprune.models import Checkpoint, create, load_checkpoint, load_model, save_checkpoint
from tests.helpers import randomize_weights


def test_round_trip_keeps_everything(tmp_path):
    model = randomize_weights(create("yolov3-tiny", num_classes=2, width=0.25, imgsz=96))
    ckpt = Checkpoint(model, ["red_armor", "blue_armor"], (96, 128), {"base": "x.pt",
                                                                       "spec": {"a": [1, 2]}})
    path = save_checkpoint(ckpt, tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)  # loads with nothing unpickled
    assert set(raw) >= {"cfg", "state_dict", "names", "imgsz", "provenance"}
    assert raw["cfg"].startswith("[net]")
    loaded = load_checkpoint(path)
    assert loaded.names == ["red_armor", "blue_armor"]
    assert loaded.imgsz == (96, 128)
    assert loaded.provenance["spec"] == {"a": [1, 2]} and "saved" in loaded.provenance
    assert loaded.model.cfg == model.cfg
    image = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(image), model(image))
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_bad_checkpoints_get_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="file not found"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(WeightsError, match="garbage.pt: not a loadable edgeprune checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(WeightsError, match="not an edgeprune checkpoint"):
        load_checkpoint(foreign)
    names_mismatch = Checkpoint(create("yolov3-tiny", num_classes=2, width=0.25), ["a"], (64, 64))
    with pytest.raises(WeightsError, match="1 class names for a model with 2 classes"):
        save_checkpoint(names_mismatch, tmp_path / "x.pt")


class Payload:
    """An arbitrary class: unpickling it would run code of the file's choosing."""


def test_pickled_objects_are_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "edgeprune-checkpoint", "object": Payload()}, evil)
    with pytest.raises(WeightsError, match="not a loadable edgeprune checkpoint"):
        load_checkpoint(evil)


def test_load_model_resolves_every_source(tmp_path):
    from edgeprune.errors import EdgepruneError
    from edgeprune.models import write_cfg_text, write_darknet_weights

    model = randomize_weights(create("yolov3-tiny", num_classes=2, width=0.25))
    (tmp_path / "m.cfg").write_text(write_cfg_text(model.cfg))
    write_darknet_weights(model, tmp_path / "m.weights")
    from_darknet = load_model(tmp_path / "m.weights", tmp_path / "m.cfg", names=["a", "b"])
    assert from_darknet.names == ["a", "b"] and from_darknet.imgsz == (416, 416)
    builtin = load_model("yolov3", num_classes=5, width=0.125, imgsz="320x256")
    assert builtin.model.num_classes == 5 and builtin.imgsz == (256, 320)
    with pytest.raises(EdgepruneError, match="need their network: add --cfg"):
        load_model(tmp_path / "m.weights")
    with pytest.raises(EdgepruneError, match="multiples of 32"):
        load_model("yolov3", imgsz=100)
    with pytest.raises(EdgepruneError, match="3 class names given for a model with 2 classes"):
        load_model(tmp_path / "m.weights", tmp_path / "m.cfg", names=["a", "b", "c"])
