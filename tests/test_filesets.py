"""Multi-file outputs written as sets (Darknet export, engine + sidecar, calibration sets): an
interrupted write leaves the old set or one that is detected, temp files go, modes follow the
umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeprune import filesets
from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.models import load_model, save_checkpoint
from edgeprune.models.darknet_files import darknet_manifest, export_darknet

DEAD_PID = 2**22 + 12345  # above the default pid_max: no such process


@pytest.fixture
def two_models(tmp_path):
    """Two checkpoints of different widths (so their .cfg and .weights differ), saved as
    m0.25.pt and m0.5.pt."""
    return [load_model(save_checkpoint(load_model("yolov3-tiny", num_classes=2, width=w, imgsz=64),
                                       tmp_path / f"m{w}.pt")) for w in (0.25, 0.5)]


def test_an_interrupted_darknet_re_export_is_detected_on_load(two_models, tmp_path, monkeypatch):
    old, new = two_models
    out = tmp_path / "export"
    paths = export_darknet(old, out, "model")
    assert darknet_manifest(paths["weights"]).is_file()
    load_model(paths["weights"], paths["cfg"])  # a complete set loads

    real_replace = os.replace
    renamed = []

    def killed_after_the_first_rename(source, target):
        if renamed:
            raise KeyboardInterrupt  # the process dies here
        renamed.append(target)
        real_replace(source, target)

    monkeypatch.setattr(filesets.os, "replace", killed_after_the_first_rename)
    with pytest.raises(KeyboardInterrupt):
        export_darknet(new, out, "model")
    monkeypatch.setattr(filesets.os, "replace", real_replace)
    assert [Path(p).name for p in renamed] == ["model.cfg"]  # new .cfg beside the old .weights
    with pytest.raises(EdgepruneError, match="model.cfg: not the file .* was written with"):
        load_model(paths["weights"], paths["cfg"])
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # temps removed
    export_darknet(new, out, "model")
    loaded = load_model(paths["weights"], paths["cfg"]).model
    assert sum(p.numel() for p in loaded.parameters()) == \
        sum(p.numel() for p in new.model.parameters())


def test_stale_temps_of_dead_writers_are_removed_live_ones_kept(two_models, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    dead = out / f".model.weights.{DEAD_PID}.abcd1234.tmp"
    live = out / ".model.weights.1.abcd1234.tmp"  # pid 1 is alive
    dead.write_bytes(b"x" * 1000)
    live.write_bytes(b"x")
    export_darknet(two_models[0], out, "model")
    assert not dead.exists() and live.exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exported_files_follow_the_umask(two_models, tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        paths = export_darknet(two_models[0], tmp_path / "export", "model")
        onnx = CliRunner().invoke(main, ["export", "--weights", str(tmp_path / "m0.25.pt"),
                                         "-o", str(tmp_path / "m.onnx"), "--no-check"])
    finally:
        os.umask(previous)
    assert onnx.exit_code == 0, onnx.output
    for path in [*paths.values(), tmp_path / "m.onnx"]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_an_engine_sidecar_from_another_build_is_refused(tmp_path):
    from edgeprune.trt.build import EngineError
    from edgeprune.trt.engine_file import check_engine_matches, write_engine

    engine = tmp_path / "m.engine"
    write_engine(engine, b"engine one", {"engine_sha256": _sha(b"engine one")})
    sidecar = json.loads((tmp_path / "m.engine.json").read_text())
    check_engine_matches(engine, sidecar, engine.read_bytes())
    engine.write_bytes(b"engine two")  # as a kill between the two renames would leave it
    with pytest.raises(EngineError, match="describes another engine"):
        check_engine_matches(engine, sidecar, engine.read_bytes())


def test_a_calibration_set_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    from edgeprune.calib.calibset import load_calib_set, write_calib_set
    from tests.data_helpers import write_image

    images = [write_image(tmp_path / f"i{k}.png", seed=k) for k in range(3)]
    folder = tmp_path / "calib" / "arena"
    write_calib_set(folder, images[:2])
    (folder / "old.cache").write_bytes(b"cache of the old set")

    def fails(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("edgeprune.calib.calibset.yaml.safe_dump", fails)
    with pytest.raises(KeyboardInterrupt):
        write_calib_set(folder, images)
    monkeypatch.undo()
    assert len(load_calib_set(folder)) == 2 and (folder / "old.cache").exists()
    assert [p.name for p in folder.parent.iterdir()] == ["arena"]  # no staging left

    stale = folder.parent / f".arena.{DEAD_PID}.new"
    stale.mkdir()
    write_calib_set(folder, images)
    assert len(load_calib_set(folder)) == 3 and not (folder / "old.cache").exists()
    assert not stale.exists()


def test_a_folder_moved_aside_by_a_killed_writer_is_put_back(tmp_path):
    folder = tmp_path / "set"
    aside = tmp_path / f".set.{DEAD_PID}.old"
    aside.mkdir()
    (aside / "images.txt").write_text("kept\n")
    with filesets.staged_folder(folder) as staging:
        assert (folder / "images.txt").read_text() == "kept\n"
        (staging / "images.txt").write_text("new\n")
    assert (folder / "images.txt").read_text() == "new\n"


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
