"""A robust accuracy in the search: candidates scored also on a fixed corrupted subset (drawn
from the seed) and a real one; every record carries the parts; a resumed search records the
same; bad options are one clear error."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.data import load_dataset
from edgeprune.errors import EdgepruneError
from edgeprune.search.records import CandidateLog
from edgeprune.search.robust import RobustScorer, RobustSettings

CORRUPT = ["--robust-corruptions", "gaussian_noise,motion_blur", "--robust-severities", "2-4",
           "--robust-images", "4"]


def test_the_corrupted_subset_is_fixed_by_the_seed(search_setup):
    val = load_dataset(search_setup.data, "val")
    settings = RobustSettings(corruptions=("gaussian_noise", "motion_blur"), images=3)
    first, again = RobustScorer(settings, val, seed=3), RobustScorer(settings, val, seed=3)
    assert first.conditions == again.conditions
    images_a, images_b = first.corrupted, again.corrupted
    assert all((a == b).all() for a, b in zip(images_a, images_b, strict=True))
    other = RobustScorer(settings, val, seed=4)
    assert other.conditions != first.conditions or not all(
        (a == b).all() for a, b in zip(images_a, other.corrupted, strict=True))
    assert {name for name, _ in first.conditions} <= {"gaussian_noise", "motion_blur"}


def test_a_robust_search_records_both_parts_and_resumes_to_the_same(search_setup, tmp_path):
    args = search_setup.args("--target-speedup", "1.25", "--out", str(tmp_path), *CORRUPT,
                             "--robust-real", str(search_setup.data), "--robust-weight",
                             "0.4", "--latency-cache", str(tmp_path / "cache.sqlite"),
                             budget=4)
    result = CliRunner().invoke(main, [*args, "--name", "whole"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "search" / "whole"
    records = CandidateLog(run).read()
    for record in records:
        parts = record.accuracy_parts
        assert set(parts) == {"clean", "corrupted", "real"}
        robust = (parts["corrupted"] + parts["real"]) / 2
        assert record.accuracy == pytest.approx(0.6 * parts["clean"] + 0.4 * robust)
    base = json.loads((run / "measured_base.json").read_text())
    assert set(base["accuracy_parts"]) == {"clean", "corrupted", "real"}
    report = (run / "report.md").read_text()
    assert "| robust accuracy | (1 - 0.4) x clean" in report and "- corrupted mAP@0.5" in report
    cut = tmp_path / "search" / "cut"
    shutil.copytree(run, cut)
    lines = (cut / "candidates.jsonl").read_text().splitlines(keepends=True)
    (cut / "candidates.jsonl").write_text("".join(lines[:2]))
    resumed = CliRunner().invoke(main, ["search", "--resume", str(cut)])
    assert resumed.exit_code == 0, resumed.output
    assert [(r.spec_hash, r.accuracy_parts) for r in CandidateLog(cut).read()] == \
        [(r.spec_hash, r.accuracy_parts) for r in records]


def test_bad_robust_options_are_one_clear_error(search_setup, tmp_path):
    base = search_setup.args("--target-speedup", "1.25", "--out", str(tmp_path))
    unknown = CliRunner().invoke(main, [*base, "--robust-corruptions", "fog"])
    assert unknown.exit_code == 1 and "unknown corruption fog" in unknown.output
    only_weight = CliRunner().invoke(main, [*base, "--robust-weight", "0.3"])
    assert only_weight.exit_code == 1 and "needs --robust-corruptions" in only_weight.output
    empty = tmp_path / "empty"
    (empty / "images" / "val").mkdir(parents=True)
    (empty / "data.yaml").write_text("path: .\ntrain: images/val\nval: images/val\n"
                                     "names: [red_armor, red_robot, blue_robot, dead_robot, "
                                     "blue_armor]\n")
    no_real = CliRunner().invoke(main, [*base, "--robust-real", str(empty / "data.yaml")])
    assert no_real.exit_code == 1 and "--robust-real" in no_real.output
    assert "Traceback" not in no_real.output
    assert not (tmp_path / "search").exists()  # a search refused at its start leaves nothing
    with pytest.raises(EdgepruneError, match="severities must be within 1..5"):
        RobustSettings(corruptions=("jpeg",), severities=(0,))
