"""Run folders are locked while a process works in them: a second process is told who holds
the folder, and a lock left by a killed process does not block the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.runs import RunFolderInUse, locked_run_dir, new_run, new_run_dir

HOLD = ("import sys, time\nfrom edgeprune.runs import locked_run_dir\n"
        "with locked_run_dir(sys.argv[1], sys.argv[2]):\n"
        "    print('locked', flush=True)\n    time.sleep(120)\n")


class Holder:
    """Another process holding the lock of `folder`, ended by its pid."""

    def __init__(self, folder: Path, verb: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), verb],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "locked"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture
def held(tmp_path):
    holders: list[Holder] = []

    def hold(folder: Path, verb: str) -> Holder:
        holders.append(Holder(folder, verb))
        return holders[-1]

    yield hold
    for holder in holders:
        holder.kill()


@pytest.mark.parametrize(("verb", "args"), [
    ("search", ["search", "--resume", "{run}"]),
    ("train", ["train", "--resume", "--out", "{run}"]),
    ("eval sim2real", ["eval", "sim2real", "--weights", "yolov3-tiny", "--sim", "s.yaml",
                       "--real", "r.yaml", "--out", "{run}"]),
])
def test_a_second_process_gets_in_use_by_pid(tmp_path, held, verb, args):
    run = tmp_path / "runs" / "exp"
    run.mkdir(parents=True)
    holder = held(run, verb)
    result = CliRunner().invoke(main, [a.format(run=run) for a in args])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {run}: in use by PID {holder.process.pid} ({verb} since "
        f"{_since(result.output)}); wait for it to finish or stop it, or use another run "
        f"folder"]


def test_finetune_holds_its_run_folder(tmp_path, monkeypatch):
    """finetune makes a fresh folder, so no second process meets it; it holds the lock all
    the same, checked from inside the run."""
    import edgeprune.train.finetune as finetune_module
    from edgeprune.models import load_model, save_checkpoint
    from tests.datagen_helpers import write_dataset

    data, _, _ = write_dataset(tmp_path / "data", train=4, val=2)
    weights = save_checkpoint(load_model("yolov3-tiny", num_classes=3, width=0.125, imgsz=64),
                              tmp_path / "s.pt")
    seen = {}

    def probe(config, run_dir, *rest, **options):
        seen["holder"] = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom edgeprune.runs import locked_run_dir\n"
             "try:\n    locked_run_dir(sys.argv[1], 'x').__enter__()\n"
             "except Exception as exc:\n    print(exc)\n", str(run_dir)],
            capture_output=True, text=True, timeout=60).stdout
        raise KeyboardInterrupt

    monkeypatch.setattr(finetune_module, "finetune", probe)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["finetune", "--weights", str(weights), "--data",
                                       str(data), "--no-teacher", "--epochs", "1"])
    assert result.exit_code == 130
    assert f"in use by PID {os.getpid()} (finetune since" in seen["holder"]


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path, held):
    run = new_run_dir("search", "exp", tmp_path)
    holder = held(run, "search")
    with pytest.raises(RunFolderInUse, match=f"in use by PID {holder.process.pid}"), \
            locked_run_dir(run, "search"):
        pass
    holder.kill()
    assert (run / ".edgeprune.lock").exists()  # the file stays; the kernel dropped the lock
    with locked_run_dir(run, "search"):
        assert (run / ".edgeprune.lock.owner").read_text().startswith(f'{{"pid": {os.getpid()}')
    assert not (run / ".edgeprune.lock.owner").exists()


def test_resuming_a_missing_folder_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["train", "--resume", "--out", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'nope'}: no run to resume"


def test_new_run_dir_never_hands_out_a_taken_name(tmp_path):
    first = new_run_dir("search", "exp", tmp_path)
    second = new_run_dir("search", "exp", tmp_path)
    assert (first.name, second.name) == ("exp", "exp2")


def _since(output: str) -> str:
    return output.split(" since ", 1)[1].split(")", 1)[0]


def test_a_run_folder_is_removed_when_its_verb_fails_before_writing(tmp_path):
    root = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt), new_run("val", "exp", root) as run, \
            locked_run_dir(run, "val"):
        assert run == root / "val" / "exp" and (run / ".edgeprune.lock").exists()
        raise KeyboardInterrupt
    assert not root.exists()  # lock files do not count; nor do the parents it made
    with pytest.raises(ValueError), new_run("val", "exp", root) as run:
        (run / "results.json").write_text("{}")
        raise ValueError
    assert (root / "val" / "exp" / "results.json").is_file()  # written: kept
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(ValueError), new_run("train", folder=mine):
        raise ValueError
    assert mine.is_dir()  # not made by the run: never removed
    with new_run("val", "exp", root) as run:
        pass
    assert run == root / "val" / "exp2" and run.is_dir()  # success: kept, even empty
