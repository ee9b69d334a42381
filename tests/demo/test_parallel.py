"""The demo's trainings side by side (edgeprune/demo/parallel.py): real child processes,
real trainings of a tiny model."""

from __future__ import annotations

import os
import time

import pytest
from rich.console import Console

from edgeprune.data.synth import generate_dataset
from edgeprune.demo.parallel import TrainingJob, _epochs_done, run_side_by_side
from edgeprune.errors import EdgepruneError
from edgeprune.train.run_files import EpochStats, write_results
from edgeprune.train.scratch import train_scratch


def scratch_job(data, run, seed: int = 0) -> TrainingJob:
    return TrainingJob(f"seed {seed}", f"yolov3 w0.0625 seed {seed}", train_scratch, run, 1,
                       args=(data, "yolov3", 0.0625, 1.0),
                       kwargs={"imgsz": 64, "epochs": 1, "batch": 4, "seed": seed,
                               "workers": 0, "run": run})


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "sim"
    generate_dataset(out, domain="sim", images=10, seed=0, size=(160, 120), workers=1)
    return out / "data.yaml"


def test_trainings_run_in_their_own_processes_and_log_there(toy_data, tmp_path):
    jobs = [scratch_job(toy_data, tmp_path / f"run{seed}", seed) for seed in (0, 1)]
    console = Console(record=True, width=200)
    results = run_side_by_side(jobs, 2, console)
    assert list(results) == ["seed 0", "seed 1"]
    for job in jobs:
        assert results[job.name].weights.is_file()
        log = job.log.read_text()
        pid = int(log.split("started in process ")[1].split()[0])
        assert pid != os.getpid()  # a child process trained it
        assert "training from scratch" in log  # its output went to the log, not here
        assert _epochs_done(job.run_dir)[0] == 1
    output = console.export_text()
    assert "2 trainings side by side, 2 at a time" in output
    assert "training from scratch" not in output


def test_one_slot_trains_in_this_process(toy_data, tmp_path):
    job = scratch_job(toy_data, tmp_path / "run")
    console = Console(record=True, width=200)
    results = run_side_by_side([job], 1, console)
    assert results["seed 0"].weights.is_file()
    assert not job.log.exists()
    assert "training from scratch" in console.export_text()


def test_a_failing_training_stops_with_its_own_error_and_ends_the_others(toy_data, tmp_path):
    missing = tmp_path / "missing" / "data.yaml"
    long = scratch_job(toy_data, tmp_path / "long", 1)
    long = TrainingJob(long.name, long.description, long.call, long.run_dir, 5000, long.args,
                       {**long.kwargs, "epochs": 5000})
    with pytest.raises(EdgepruneError, match="missing"):
        run_side_by_side([scratch_job(missing, tmp_path / "bad"), long], 2, Console(quiet=True))
    # the other training was ended, not waited for (5000 epochs take many minutes)
    written = _epochs_done(long.run_dir)[0]
    time.sleep(3)
    assert _epochs_done(long.run_dir)[0] == written < 5000


def test_progress_counts_epochs_and_skips_the_starting_score(tmp_path):
    assert _epochs_done(tmp_path) == (0, None)

    def epoch(number: int, map50: float | None) -> EpochStats:
        return EpochStats(number, 0.1, 0.1, 0.1, 0.0, 1e-3, 1.0, map50=map50, map50_95=map50)

    # written as the trainer writes it; row 0 is fine-tuning's score of the model as given
    history = [epoch(0, 0.9), epoch(1, 0.25), epoch(2, 0.5)]
    write_results(tmp_path, history)
    assert _epochs_done(tmp_path) == (2, 0.5)
    write_results(tmp_path, [*history, epoch(3, None)])  # an epoch not validated
    assert _epochs_done(tmp_path) == (3, 0.5)
