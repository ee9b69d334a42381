"""`edgeprune train` and `finetune` under torchrun with 2 CPU processes (gloo): one run folder
written by rank 0, the layout of a one-process run, resumed after the launcher was stopped."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.models import load_checkpoint
from edgeprune.train.distributed import Processes, batch_per_process
from tests.datagen_helpers import write_dataset

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", "2", "-m", "edgeprune"]
TIMEOUT_S = 300
RUN_FILES = {"best.pt", "last.pt", "results.csv", "config.yaml"}


def epochs_done(run: Path) -> int:
    path = run / "results.csv"
    if not path.is_file():
        return 0
    with path.open() as handle:
        return len(list(csv.DictReader(handle)))


def torchrun(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*TORCHRUN, *[str(a) for a in args]], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT_S)


def test_train_and_finetune_on_two_processes(tmp_path):
    data, _, _ = write_dataset(tmp_path / "data", train=16, val=4)
    run = tmp_path / "runs" / "train" / "ddp"
    command = [*TORCHRUN, "train", "--data", str(data), "--model", "yolov3-tiny", "--width",
               "0.125", "--imgsz", "64", "--batch", "4", "--workers", "0", "--epochs", "6",
               "--name", "ddp"]
    launcher = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while epochs_done(run) < 1 and launcher.poll() is None:
            assert time.monotonic() < deadline, "no epoch finished"
            time.sleep(0.02)
    finally:
        os.kill(launcher.pid, signal.SIGTERM)  # torchrun stops its workers, then itself
        launcher.wait(timeout=60)
    stopped_after = epochs_done(run)
    assert 1 <= stopped_after < 6
    assert [p.name for p in (tmp_path / "runs" / "train").iterdir()] == ["ddp"]  # one folder

    resumed = torchrun("train", "--name", "ddp", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("epoch 6/6") == 1  # rank 0 alone prints
    assert {p.name for p in run.iterdir()} >= RUN_FILES
    with (run / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    assert all(float(r["obj"]) > 0 and r["map50"] != "" for r in rows)
    last = load_checkpoint(run / "last.pt")
    assert last.provenance["epochs"] == 6 and not any(
        key.startswith("module.") for key in last.model.state_dict())  # no DDP wrapper

    tuned = torchrun("finetune", "--weights", run / "best.pt", "--teacher", run / "best.pt",
                     "--data", data, "--epochs", "1", "--batch", "4", "--workers", "0",
                     "--name", "ddp", cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    assert tuned.stdout.count("after (best.pt)") == 1
    assert {p.name for p in (tmp_path / "runs" / "finetune" / "ddp").iterdir()} >= RUN_FILES


def test_the_batch_is_split_between_processes():
    assert batch_per_process(16, Processes(world_size=2)) == 8
    assert batch_per_process(5, Processes()) == 5
    with pytest.raises(EdgepruneError, match="does not split evenly over 2 processes"):
        batch_per_process(5, Processes(rank=1, world_size=2))
