"""`edgeprune eval sim2real`: side-by-side numbers equal `edgeprune val`, corruptions behave,
runs resume, bad input is refused clearly."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.data.corruptions import CorruptionError, list_corruptions
from edgeprune.errors import EdgepruneError
from edgeprune.eval.sim2real import (
    Condition,
    condition_image,
    parse_corruptions,
    parse_severities,
    run_sim2real,
)
from edgeprune.eval.sim2real.runner import model_sources
from edgeprune.models import load_checkpoint
from edgeprune.onnxio.serialize import export_onnx
from tests.datagen_helpers import write_dataset
from tests.eval.sim2real_helpers import one_torch_thread, synth_models

SUITE = ["gaussian_noise", "shot_noise", "motion_blur", "defocus_blur"]
SEVERITIES = ["0", "1", "3", "5"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return synth_models(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def evaluated(models, tmp_path_factory):
    """The base and the pruned model side by side, from the command line."""
    out = tmp_path_factory.mktemp("eval") / "base-vs-pruned"
    run = invoke("eval", "sim2real", "--weights", models.base, "--weights", models.pruned,
                 "--sim", models.sim, "--real", models.real, "--corruptions", ",".join(SUITE),
                 "--severities", ",".join(SEVERITIES), "--out", out)
    assert run.exit_code == 0, run.output
    results = json.loads((out / "results.json").read_text())
    return out, run.output, {m["label"]: m for m in results["models"]}


def test_parse_corruptions_and_severities():
    assert parse_corruptions("all") == parse_corruptions(None) == list_corruptions()
    assert len(list_corruptions()) == 11 and parse_corruptions("none") == []
    assert parse_corruptions(" jpeg, gaussian_noise,jpeg") == ["jpeg", "gaussian_noise"]
    with pytest.raises(CorruptionError, match="unknown corruption fog .*known: gaussian_noise"):
        parse_corruptions("jpeg,fog")
    assert parse_severities("1-5") == [1, 2, 3, 4, 5]
    assert parse_severities("5, 1,3") == [1, 3, 5] and parse_severities("0") == [0]
    assert parse_severities([2, 0]) == [0, 2]
    for bad, message in (("1-6", "severity 6 is out of range"), ("7", "out of range"),
                         ([-1], "out of range"), ("3-1", "backwards"), ("a", "expected"),
                         ("", "expected")):
        with pytest.raises(CorruptionError, match=message):
            parse_severities(bad)


def test_model_labels_are_file_stems_made_unique():
    labels = [m.label for m in model_sources(["runs/a/best.pt", "runs/b/best.pt", "p.onnx",
                                              "x/p.onnx", "y/p.onnx", "y/p.onnx"])]
    assert labels == ["a/best", "b/best", "p", "x/p", "y/p#1", "y/p#2"]
    assert [m.label for m in model_sources({"base": "best.pt"})] == ["base"]
    with pytest.raises(EdgepruneError, match="no model given"):
        model_sources([])


def test_corrupted_image_depends_only_on_seed_image_corruption_and_severity():
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    for name in ("gaussian_noise", "motion_blur", "white_balance"):
        condition = Condition("sim", name, 3)
        first = condition_image(image, 5, condition, seed=0)
        condition_image(image, 6, condition, seed=0)  # other images in between change nothing
        assert np.array_equal(first, condition_image(image, 5, condition, seed=0))
        assert not np.array_equal(first, image)
    noise = Condition("sim", "gaussian_noise", 3)
    assert not np.array_equal(condition_image(image, 5, noise, 0),
                              condition_image(image, 6, noise, 0))
    assert not np.array_equal(condition_image(image, 5, noise, 0),
                              condition_image(image, 5, noise, 1))
    assert condition_image(image, 5, Condition("sim"), 0) is image


def test_side_by_side_numbers_equal_separate_val_runs(models, evaluated, tmp_path,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, _, by_label = evaluated
    assert set(by_label) == {"best", "pruned"}
    assert by_label["best"]["sim"]["map50"] > 0.1
    assert 0 < by_label["pruned"]["sim"]["map50"] < by_label["best"]["sim"]["map50"]
    for label, weights in (("best", models.base), ("pruned", models.pruned)):
        for domain, data in (("sim", models.sim), ("real", models.real)):
            val = invoke("val", "--data", data, "--weights", weights, "--json")
            assert val.exit_code == 0, val.output
            expected = json.loads(val.output)
            for metric in ("map50", "map50_95"):
                assert by_label[label][domain][metric] == pytest.approx(expected[metric],
                                                                        abs=1e-12)
            assert by_label[label][domain]["images"] == expected["images"] == 32
        summary = by_label[label]["summary"]["map50"]
        sim, real = by_label[label]["sim"]["map50"], by_label[label]["real"]["map50"]
        assert summary["gap"] == pytest.approx(sim - real)
        assert summary["real_retention"] == pytest.approx(real / sim)


def test_severity_zero_is_clean_and_noise_and_blur_cost_accuracy(evaluated):
    _, _, by_label = evaluated
    for model in by_label.values():
        for name in SUITE:
            clean = model["corruptions"][name]["severities"]["0"]
            assert clean["map50"] == model["sim"]["map50"]
            assert clean["map50_95"] == model["sim"]["map50_95"]
    base = by_label["best"]
    for name in SUITE:
        curve = [base["corruptions"][name]["severities"][s]["map50"] for s in SEVERITIES]
        steps = zip(curve[:-1], curve[1:], strict=True)
        assert all(later <= earlier + 0.01 for earlier, later in steps), (name, curve)
        assert curve[-1] < curve[0] - 0.02, (name, curve)
    corrupted = [base["corruptions"][name]["severities"][s]["map50"] for name in SUITE
                 for s in SEVERITIES[1:]]  # severity 0 is left out of the suite mean
    summary = base["summary"]["map50"]
    assert summary["suite_mean"] == pytest.approx(np.mean(corrupted))
    assert summary["suite_retention"] == pytest.approx(np.mean(corrupted) / summary["sim"])
    assert summary["suite_retention"] < 1


def test_report_plots_and_summary_table(evaluated):
    out, output, _ = evaluated
    for name in ("severity.png", "sim_vs_real.png", "retention.png"):
        figure = cv2.imread(str(out / name))
        assert figure is not None and min(figure.shape[:2]) > 200, name
    report = (out / "report.md").read_text()
    for expected in ("## Sim-to-real gap", "## Camera corruptions of the sim split",
                     "![sim vs real](sim_vs_real.png)", "| pruned |", "motion_blur",
                     "(rPC)", "seeded by (seed, image index, corruption, severity)"):
        assert expected in report
    assert len((out / "results.partial.jsonl").read_text().splitlines()) == 2 * (2 + 4 * 4)
    assert "sim2real:" in output and "pruned" in output and "report.md" in output


def test_running_again_redoes_only_what_is_missing(models, evaluated, tmp_path):
    out, _, by_label = evaluated
    again = tmp_path / "again"
    shutil.copytree(out, again)
    partial = again / "results.partial.jsonl"
    kept = [line for line in partial.read_text().splitlines()
            if not (json.loads(line)["condition"] in ("real", "motion_blur/3")
                    and json.loads(line)["label"] == "pruned")]
    partial.write_text("\n".join(kept) + "\n")
    result = run_sim2real([models.base, models.pruned], models.sim, models.real, SUITE,
                          "0,1,3,5", out=again)
    assert (result.computed, result.reused) == (2, 34)
    for model in result.to_json()["models"]:
        assert model["summary"] == by_label[model["label"]]["summary"]


def test_an_interrupted_run_keeps_finished_scores(models, tmp_path):
    done = []

    def interrupt(images, total, what):
        done.append(images)
        if sum(done) > 3 * 32:  # real, sim and jpeg 2 are finished
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sim2real([models.base], models.sim, models.real, "jpeg", "2,4",
                     out=tmp_path / "run", progress=interrupt)
    assert len((tmp_path / "run" / "results.partial.jsonl").read_text().splitlines()) == 3
    result = run_sim2real([models.base], models.sim, models.real, "jpeg", "2,4",
                          out=tmp_path / "run", write_files=False)
    assert (result.computed, result.reused) == (1, 3)


def test_streaming_gives_the_same_numbers_as_the_memory_cache(models, evaluated, tmp_path):
    _, _, by_label = evaluated
    result = run_sim2real({"base": models.base, "pruned": models.pruned}, models.sim,
                          models.real, "motion_blur,shot_noise", "3", out=tmp_path / "s",
                          cache_mb=0, write_files=False)
    assert result.image_reading.startswith("streamed")
    for label, earlier in (("base", by_label["best"]), ("pruned", by_label["pruned"])):
        model = result.model(label)
        assert model.sim.map50 == earlier["sim"]["map50"]
        assert model.real.map50_95 == earlier["real"]["map50_95"]
        for name in ("motion_blur", "shot_noise"):
            assert model.corruptions[name][3].map50 == \
                earlier["corruptions"][name]["severities"]["3"]["map50"]


def test_subset_without_corruptions_reports_the_gap_only(models, tmp_path):
    ckpt = load_checkpoint(models.base)
    export_onnx(ckpt.model, tmp_path / "base.onnx", ckpt.imgsz, ckpt.names)
    result = run_sim2real({"base": models.base, "onnx": tmp_path / "base.onnx"}, models.sim,
                          models.real, "none", "1", out=tmp_path / "gap", max_images=8)
    assert result.datasets["sim"]["images"] == result.datasets["real"]["images"] == 8
    assert result.settings["max_images"] == 8 and result.corruptions == []
    base, onnx = result.model("base"), result.model("onnx")
    assert "onnxruntime" in onnx.backend and (onnx.params, onnx.gflops) == (base.params,
                                                                            base.gflops)
    assert onnx.real.map50 == pytest.approx(base.real.map50, abs=1e-3)
    assert base.suite_mean() is None and base.corruptions == {}
    assert base.describe().startswith(f"mAP@0.5 sim {base.sim.map50:.3f}")
    assert {p.name for p in (tmp_path / "gap").iterdir()} >= {"report.md", "results.json",
                                                               "sim_vs_real.png"}
    assert not (tmp_path / "gap" / "severity.png").exists()
    assert "## Camera corruptions" not in (tmp_path / "gap" / "report.md").read_text()


@pytest.fixture(scope="module")
def other_data(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("other")
    renamed = root / "renamed.yaml"
    text = models.real.read_text()
    renamed.write_text(text.replace("red_armor", "armor_red").replace(
        "path: .", f"path: {models.real.parent}"))
    three_classes, _, _ = write_dataset(root / "shapes", train=1, val=2)
    return {"renamed": renamed, "three": three_classes, "folder": root}


@pytest.mark.parametrize("case", ["unknown corruption", "severity", "class names",
                                  "missing weights", "missing data", "class count",
                                  "other settings", "cfg count", "nothing to resume"])
def test_bad_input_is_a_clear_error(models, evaluated, other_data, tmp_path, monkeypatch,
                                    case):
    monkeypatch.chdir(tmp_path)
    common = ["--weights", models.base, "--sim", models.sim, "--real", models.real,
              "--corruptions", "jpeg", "--severities", "1", "--out", tmp_path / "run"]

    def replaced(option, value):
        args = list(common)
        args[args.index(option) + 1] = value
        return args

    args, message = {
        "unknown corruption": (replaced("--corruptions", "jpeg,fog"), "unknown corruption fog"),
        "severity": (replaced("--severities", "1-6"), "severity 6 is out of range"),
        "class names": (replaced("--real", other_data["renamed"]), "different classes"),
        "missing weights": (replaced("--weights", tmp_path / "nope.pt"), "nope.pt: model file "
                                                                         "not found"),
        "missing data": (replaced("--sim", tmp_path / "sim.yaml"), "sim.yaml: dataset "
                                                                   "description not found"),
        "class count": ([*replaced("--sim", other_data["three"]), "--real",
                         other_data["three"]], "the model has 5 classes"),
        "other settings": ([*replaced("--out", evaluated[0]), "--seed", 1], "other settings"),
        "cfg count": (replaced("--weights", "yolov3.weights"), "1 Darknet .weights among "
                                                               "--weights but 0 --cfg"),
        "nothing to resume": ([*common[:-2], "--name", "gone", "--resume"],
                              "runs/eval/gone: no run to resume"),
    }[case]
    run = invoke("eval", "sim2real", *args)
    assert run.exit_code == 1, run.output
    assert message in run.output and "Traceback" not in run.output
