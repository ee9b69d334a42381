"""Text from users' files, names and keys reaches the console as it is: rich markup in it
(`[/y]`, `[frobnicate]`) neither crashes a command nor vanishes from its message."""

from __future__ import annotations

import json

from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.console import escape
from edgeprune.models import create, load_model, save_checkpoint, write_cfg_text
from tests.datagen_helpers import write_dataset


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_escape_keeps_markup_like_text_literal():
    from rich.console import Console

    console = Console(record=True, width=200)
    for text in ("bad/x[/y].cfg", "[frobnicate]", "[/x] 0.5 0.5 0.2 0.2", "[bold]k[/]", "a\\"):
        console.print(f"[red]{escape(text)}[/]")
    assert console.export_text().splitlines() == ["bad/x[/y].cfg", "[frobnicate]",
                                                  "[/x] 0.5 0.5 0.2 0.2", "[bold]k[/]", "a\\"]


def test_info_on_a_path_with_markup(tmp_path):
    folder = tmp_path / "bad" / "x["
    folder.mkdir(parents=True)
    cfg = folder / "y].cfg"
    cfg.write_text(write_cfg_text(create("yolov3-tiny", num_classes=2, width=0.25).cfg))
    result = invoke("info", cfg)
    assert result.exit_code == 0, result.output
    assert "x[/y].cfg" in result.output


def test_an_unknown_cfg_section_is_named_in_the_error(tmp_path):
    cfg = tmp_path / "m[b].cfg"  # [b] is rich for bold
    cfg.write_text("[net]\nwidth=64\nheight=64\nchannels=3\n[frobnicate]\nx=1\n")
    result = invoke("info", cfg)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {cfg}:5: unknown section [frobnicate] (known: convolutional, maxpool, net, "
        f"route, shortcut, upsample, yolo)"]


def test_a_label_line_with_markup_does_not_crash_train(tmp_path):
    data, _, _ = write_dataset(tmp_path / "data", train=8, val=4)
    label = tmp_path / "data" / "labels" / "train" / "0000.txt"
    label.write_text(label.read_text() + "[/x] 0.5 0.5 0.2 0.2\n")
    out = tmp_path / "runs[/b]"
    result = invoke("train", "--data", data, "--model", "yolov3-tiny", "--width", "0.125",
                    "--imgsz", 64, "--batch", 4, "--workers", 1, "--torch-threads", 1,
                    "--epochs", 1, "--no-val", "--out", out)
    assert result.exit_code == 0, result.output
    assert "[/x]" in result.output and f"training into {out}" in result.output


def test_a_profile_key_with_markup_is_named_in_the_error(tmp_path):
    profile = tmp_path / "dev.yaml"
    profile.write_text("name: dev\nbackend: ort-cpu\n'[frobnicate]': 1\n")
    result = invoke("latency", "yolov3-tiny", "--classes", 2, "--device", profile)
    assert result.exit_code == 1
    assert f"{profile}:3: unknown field '[frobnicate]'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_predict_reports_unreadable_images_by_name_and_goes_on(tmp_path):
    import cv2
    import numpy as np

    model = save_checkpoint(load_model("yolov3-tiny", num_classes=2, width=0.25, imgsz=64),
                            tmp_path / "m.pt")
    photos = tmp_path / "ph[i]tos"
    photos.mkdir()
    cv2.imwrite(str(photos / "good.png"), np.full((48, 64, 3), 127, np.uint8))
    (photos / "broken[b].png").write_bytes(b"not a png")
    out = tmp_path / "out"
    result = invoke("predict", "--weights", model, "--source", photos, "--out", out,
                    "--runtime", "torch", "--torch-device", "cpu")
    assert result.exit_code == 0, result.output
    assert "1 unreadable image(s) skipped" in result.output and "broken[b].png" in result.output
    assert [r["image"] for r in json.loads((out / "predictions.json").read_text())] == [
        str(photos / "good.png")]
    (photos / "good.png").unlink()
    result = invoke("predict", "--weights", model, "--source", photos, "--out", out,
                    "--runtime", "torch", "--torch-device", "cpu")
    assert result.exit_code == 1
    assert "none of the 1 image(s) could be read" in result.output
    assert len(result.output.strip().splitlines()) == 1
