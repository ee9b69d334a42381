"""The measured base is the run's state (baseline.json), kept out of its settings
(config.yaml); run folders of earlier releases, which kept it in config.yaml, still resume."""

from __future__ import annotations

import dataclasses

import yaml

from edgeprune.search.baseline import BASELINE, Baseline, load_baseline, save_baseline
from edgeprune.search.settings import CONFIG, SearchSettings
from edgeprune.search.target import Target

MEASURED = Baseline(latency={"median_ms": 12.0}, accuracy=0.5, gflops=1.5, params=1000,
                    fastest_latency={"median_ms": 3.0}, target_ms=6.0)


def settings() -> SearchSettings:
    return SearchSettings(weights="/w.pt", data="/d.yaml", target=Target(speedup=2.0))


def test_the_baseline_round_trips_beside_the_settings(tmp_path):
    settings().save(tmp_path)
    assert load_baseline(tmp_path) is None  # not measured yet
    save_baseline(tmp_path, MEASURED)
    assert load_baseline(tmp_path) == MEASURED
    assert "baseline" not in yaml.safe_load((tmp_path / CONFIG).read_text())
    assert (tmp_path / BASELINE).is_file()


def test_a_run_folder_of_an_earlier_release_keeps_its_baseline(tmp_path):
    old = {**settings().to_dict(), "baseline": dataclasses.asdict(MEASURED)}
    (tmp_path / CONFIG).write_text(yaml.safe_dump(old, sort_keys=False))
    assert SearchSettings.load(tmp_path) == settings()
    assert load_baseline(tmp_path) == MEASURED
    assert load_baseline(tmp_path).latency_ms == 12.0
