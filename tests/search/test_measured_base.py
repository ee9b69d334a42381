"""The measured base is the run's state (measured_base.json), kept out of its settings
(config.yaml); run folders of earlier releases, which kept it in baseline.json or in
config.yaml, still resume."""

from __future__ import annotations

import dataclasses

import yaml

from edgeprune.search.measured_base import (
    LEGACY_FILE,
    MEASURED_BASE,
    MeasuredBase,
    load_measured_base,
    save_measured_base,
)
from edgeprune.search.settings import CONFIG, SearchSettings
from edgeprune.search.target import Target

MEASURED = MeasuredBase(latency={"median_ms": 12.0}, accuracy=0.5, gflops=1.5, params=1000,
                        fastest_latency={"median_ms": 3.0}, target_ms=6.0)


def settings() -> SearchSettings:
    return SearchSettings(weights="/w.pt", data="/d.yaml", target=Target(speedup=2.0))


def test_the_measured_base_round_trips_beside_the_settings(tmp_path):
    settings().save(tmp_path)
    assert load_measured_base(tmp_path) is None  # not measured yet
    save_measured_base(tmp_path, MEASURED)
    assert load_measured_base(tmp_path) == MEASURED
    assert "baseline" not in yaml.safe_load((tmp_path / CONFIG).read_text())
    assert (tmp_path / MEASURED_BASE).is_file()


def test_a_run_folder_of_an_earlier_release_keeps_its_measured_base(tmp_path):
    old = {**settings().to_dict(), "baseline": dataclasses.asdict(MEASURED)}
    (tmp_path / CONFIG).write_text(yaml.safe_dump(old, sort_keys=False))
    assert SearchSettings.load(tmp_path) == settings()
    assert load_measured_base(tmp_path) == MEASURED
    assert load_measured_base(tmp_path).latency_ms == 12.0


def test_a_run_folder_with_baseline_json_resumes(tmp_path):
    import json

    settings().save(tmp_path)
    (tmp_path / LEGACY_FILE).write_text(json.dumps(dataclasses.asdict(MEASURED)))
    assert load_measured_base(tmp_path) == MEASURED
    assert load_measured_base(tmp_path).settled is None  # measured once, by that release


def test_the_fastest_network_is_compared_by_its_ratio():
    fastest = {"median_ms": 3.5, "reference": {"ratio": 0.25, "ratio_ci": [0.24, 0.26]}}
    base = dataclasses.replace(MEASURED, fastest_latency=fastest)
    assert base.fastest_ms == 3.0  # 0.25 x 12 ms: what the search compares, not the 3.5
