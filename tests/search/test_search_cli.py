"""`edgeprune search` end to end on a tiny model: run folder, resume after SIGKILL, a device
agent over loopback, and the errors a user can cause."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.models import load_checkpoint
from edgeprune.prune import load_spec
from edgeprune.search.records import CandidateLog
from tests.latency.latency_helpers import TOKEN, ServerProcess

SEARCH_CLI = [sys.executable, "-c", "from edgeprune.cli import main; main()"]


def invoke(args: list[str]):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


def records(run: Path):
    return CandidateLog(run).read()


def test_search_writes_a_complete_run_folder(search_setup, tmp_path):
    result = invoke(search_setup.args("--target-speedup", "1.25", "--out", str(tmp_path),
                                      "--name", "full", budget=3, latency_mode=None))
    run = tmp_path / "search" / "full"  # the product's defaults: the device's latency model
    for name in ("config.yaml", "measured_base.json", "latency_model.json", "candidates.jsonl",
                 "latency.sqlite",
                 "pareto.csv", "best.yaml", "best.pt", "report.md", "reward.png", "pareto.png",
                 "best_spec.png"):
        assert (run / name).is_file(), name
    lines = records(run)
    assert [r.step for r in lines] == [0, 1, 2]
    first = lines[0]
    assert first.agent == "random" and first.session == 0 and first.latency["runs"] >= 5
    assert first.latency["backend"] == "ort-cpu" and first.gflops > 0 and first.params > 0
    assert 0 <= first.accuracy <= 1
    # timed against the base in one window: the ratio is recorded and the reward uses it
    assert first.latency["reference"]["interleaved"] and first.latency_ratio > 0
    assert first.measured_ms == first.latency["median_ms"]
    # the measured base is the run's state, beside the settings (config.yaml), not among them
    baseline = json.loads((run / "measured_base.json").read_text())
    assert "baseline" not in yaml.safe_load((run / "config.yaml").read_text())
    base_ms = baseline["latency"]["median_ms"]
    assert first.latency_ratio * base_ms == pytest.approx(first.latency_ms)

    assert baseline["target_ms"] == pytest.approx(baseline["latency"]["median_ms"] / 1.25)
    assert baseline["accuracy"] > 0.3  # the base scores well on its own labels
    assert "token" not in (run / "config.yaml").read_text()

    best = load_spec(run / "best.yaml")
    best_record = next(r for r in lines if r.spec_hash == best.hash)
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt.provenance["spec_hash"] == best.hash
    assert ckpt.provenance["search"]["run"] == str(run)
    assert ckpt.provenance["search"]["step"] == best_record.step
    assert ckpt.names == load_checkpoint(search_setup.weights).names
    report = (run / "report.md").read_text()
    assert "## Pareto front" in report and "![Reward over steps](reward.png)" in report
    assert "search: " in result.output and "wrote " in result.output


def test_sigkilled_search_resumes_to_the_uninterrupted_result(search_setup, tmp_path):
    """A killed run loses nothing and repeats nothing: with the same seed (and the same
    latency cache, since measured latency is noisy) it ends exactly where an uninterrupted run
    ends. The uniform agent decides from what it observed, so a faulty replay would show."""
    cache = tmp_path / "reference.sqlite"
    common = ("--target-speedup", "1.25", "--out", str(tmp_path))
    invoke(search_setup.args(*common, "--name", "whole", "--latency-cache", str(cache),
                             agent="uniform", budget=4))
    whole = records(tmp_path / "search" / "whole")
    assert len(whole) == 4

    shared = tmp_path / "copy.sqlite"
    shutil.copy(cache, shared)
    run = tmp_path / "search" / "killed"
    process = subprocess.Popen(
        [*SEARCH_CLI, *search_setup.args(*common, "--name", "killed", "--latency-cache",
                                         str(shared), agent="uniform", budget=4)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if len(records(run)) >= 1:
                break
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # in the middle of the next candidate
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    before = records(run)
    assert 1 <= len(before) < 4
    log_bytes = (run / "candidates.jsonl").read_bytes()
    with (run / "candidates.jsonl").open("ab") as handle:  # and a write torn by the kill
        handle.write(b'{"step": %d, "spec": {"drop_bl' % len(before))

    result = invoke(["search", "--resume", str(run)])
    after = records(run)
    assert (run / "candidates.jsonl").read_bytes().startswith(log_bytes)
    assert [r.step for r in after] == [0, 1, 2, 3]
    assert [r.session for r in after] == [0] * len(before) + [1] * (4 - len(before))
    assert f"{4 - len(before)} evaluated" in result.output
    assert after[: len(before)] == before
    for ours, reference in zip(after, whole, strict=True):
        assert ours.spec_hash == reference.spec_hash
        assert ours.accuracy == pytest.approx(reference.accuracy, abs=1e-9)
        assert ours.latency_ms == reference.latency_ms
        assert ours.reward == pytest.approx(reference.reward, abs=1e-9)
        assert ours.feasible == reference.feasible
    assert load_spec(run / "best.yaml") == load_spec(tmp_path / "search" / "whole" / "best.yaml")


def test_resume_does_not_measure_again_what_a_killed_candidate_measured(search_setup, tmp_path):
    invoke(search_setup.args("--target-speedup", "1.25", "--out", str(tmp_path), "--name",
                             "partial", budget=3))
    run = tmp_path / "search" / "partial"
    first = records(run)
    assert not any(r.from_cache for r in first)
    # As if killed during step 1's accuracy proxy, after its latency was measured and cached;
    # and again during step 2's.
    lines = (run / "candidates.jsonl").read_bytes().splitlines(keepends=True)
    (run / "candidates.jsonl").write_bytes(lines[0])
    for name in ("best.pt", "best.yaml", "pareto.csv", "report.md"):
        (run / name).unlink()
    config_before = (run / "config.yaml").read_text()
    baseline_before = (run / "measured_base.json").read_text()

    result = invoke(["search", "--resume", str(run)])
    again = records(run)
    assert [r.session for r in again] == [0, 1, 1]
    assert again[0] == first[0]
    assert all(r.from_cache for r in again[1:])  # measured before the "kill": not again
    assert [r.spec_hash for r in again] == [r.spec_hash for r in first]
    assert "2 evaluated and 0 latencies measured" in result.output
    assert (run / "config.yaml").read_text() == config_before
    # the base was not re-measured
    assert (run / "measured_base.json").read_text() == baseline_before
    assert (run / "best.pt").is_file() and (run / "report.md").is_file()


def test_search_on_a_registered_device(search_setup, tmp_path):
    """The mission's command, `edgeprune search --device jetson`, on a device registered with
    `edgeprune device add` (a server on loopback standing in for the Jetson)."""
    agent = ServerProcess()
    token_file = tmp_path / "jetson.token"
    token_file.write_text(TOKEN + "\n")
    try:
        invoke(["device", "add", "jetson", agent.url, "--token-file", str(token_file),
                "--profile", "cpu"])
        result = invoke(search_setup.args("--device", "jetson", "--target-speedup", "1.25",
                                          "--out", str(tmp_path), "--name", "remote",
                                          budget=2))
        requests = agent.log_text()
    finally:
        agent.stop()
    run = tmp_path / "search" / "remote"
    found = records(run)
    assert len(found) == 2 and found[0].latency["backend"] == "ort-cpu"
    assert found[0].latency["device"]["threads"] == 1  # the server's --threads 1
    # base, most-pruned network, two candidates (one more if the drift check runs)
    assert requests.count(" measured ") >= 2 + sum(not r.from_cache for r in found)
    config = (run / "config.yaml").read_text()
    assert "device: jetson" in config and TOKEN not in config
    assert "search: " in result.output


@pytest.mark.parametrize(("extra", "message"), [
    (["--agent", "simulated-annealing", "--target-speedup", "2"],
     "unknown search agent 'simulated-annealing'"),
    (["--target-speedup", "1"], "must be above 1"),
    (["--target-latency", "soon"], "expected a time such as 8ms"),
    (["--target-latency", "5ms", "--target-speedup", "2"], "not both"),
    ([], "give one target"),
    (["--target-speedup", "2", "--protocol", "max_runs=-3"], "max_runs"),
])
def test_bad_arguments_are_clear_errors(search_setup, tmp_path, extra, message):
    result = CliRunner().invoke(main, [*search_setup.args("--out", str(tmp_path)), *extra])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "search").exists()


def test_impossible_targets_say_what_is_reachable_and_leave_no_run(search_setup, tmp_path):
    for target, message in ((["--target-latency", "0.0001ms"], "cannot be reached"),
                            (["--target-latency", "10s"], "already met by the base"),
                            (["--target-speedup", "1000"], "cannot be reached")):
        result = CliRunner().invoke(main, search_setup.args(*target, "--out", str(tmp_path)))
        assert result.exit_code == 1, result.output
        assert message in result.output and "networks this search may produce" in result.output
    assert not (tmp_path / "search").exists()


def test_a_refused_target_prints_a_limit_that_is_accepted_typed_back(search_setup, tmp_path):
    """The limit is printed rounded towards the reachable side (1.498x was printed 1.50x and
    then refused), and the refusal names the setting that holds the most-pruned network."""
    cache = str(tmp_path / "latency.sqlite")  # the same measurements both times
    common = ["--latency-cache", cache, "--out", str(tmp_path), "--min-ratio", "0.1"]
    refused = CliRunner().invoke(main, search_setup.args("--target-speedup", "1000", *common))
    assert refused.exit_code == 1, refused.output
    text = " ".join(refused.output.split())
    limit = re.search(r"--target-speedup ([0-9.]+) is accepted with these measurements", text)
    assert limit, text
    # the tiny test model's layers are 4-32 channels: at ratio 0.1 --round-to and
    # --min-channels (8 each), not --min-ratio, decide what is kept
    assert re.search(r"To prune further: --(round-to|min-channels) \d+ .*hold the thin layers "
                     r"above --min-ratio 0.1", text), text
    accepted = CliRunner().invoke(main, search_setup.args(
        "--target-speedup", limit.group(1), *common, "--budget", "1"))
    assert accepted.exit_code == 0, accepted.output
    assert "cannot be reached" not in accepted.output


def test_missing_inputs_and_bad_resumes(search_setup, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["search", "--data", str(tmp_path / "none.yaml"), "--weights",
                                  str(search_setup.weights), "--target-speedup", "2",
                                  "--agent", "random"])
    assert result.exit_code == 1 and "none.yaml: --data not found" in result.output
    result = runner.invoke(main, ["search", "--weights", str(search_setup.weights),
                                  "--target-speedup", "2"])
    assert result.exit_code == 1 and "--data is required" in result.output
    from edgeprune.models import Checkpoint, create, save_checkpoint

    other = save_checkpoint(Checkpoint(create("yolov3", num_classes=3, width=0.125),
                                       ["a", "b", "c"], (64, 64)), tmp_path / "three.pt")
    result = runner.invoke(main, ["search", "--data", str(search_setup.data), "--weights",
                                  str(other), "--target-speedup", "2", "--agent", "random",
                                  "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1 and "the base model has 3 classes" in result.output
    assert not (tmp_path / "runs").exists()
    result = runner.invoke(main, ["search", "--resume", str(tmp_path)])
    assert result.exit_code == 1 and "not a search run folder" in result.output
    result = runner.invoke(main, ["search", "--resume", str(tmp_path), "--budget", "9"])
    assert result.exit_code == 1 and "drop --budget" in result.output
    (tmp_path / "config.yaml").write_text(json.dumps({"weights": "x", "colour": "red"}))
    result = runner.invoke(main, ["search", "--resume", str(tmp_path)])
    assert result.exit_code == 1 and "unknown key 'colour'" in result.output


def test_an_already_pruned_base_searched_through_the_cli(search_setup, tmp_path):
    """A published pruned model is the base users bring: the search says plainly when its
    best keeps under half the base's accuracy proxy, and the report gives the base's latency
    as independent measurements that agree, and the best's with its interval."""
    from edgeprune.models import load_checkpoint, save_checkpoint
    from edgeprune.prune import PruneSpec, prune_checkpoint

    base = load_checkpoint(search_setup.weights)
    pruned = prune_checkpoint(base, PruneSpec.create(drop_blocks=[1, 4], default_ratio=0.5),
                              base=str(search_setup.weights))
    weights = save_checkpoint(pruned, tmp_path / "pruned.pt")
    args = search_setup.args("--target-speedup", "1.25", "--out", str(tmp_path), "--name",
                             "pruned", "--min-ratio", "0.1", "--round-to", "1",
                             "--min-channels", "1", agent="uniform")
    args[args.index("--weights") + 1] = str(weights)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "search" / "pruned"
    measured = json.loads((run / "measured_base.json").read_text())
    assert len(measured["latency_attempts"]) >= 2
    records = [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    step = int(re.search(r"step (\d+)", (run / "best.yaml").read_text()).group(1))
    share = records[step]["accuracy"] / measured["accuracy"]
    output = " ".join(result.output.split())
    report = (run / "report.md").read_text()
    assert ("keeps only" in output) == (share < 0.5), (share, output)
    assert ("> **Warning:** the best candidate's accuracy proxy" in report) == (share < 0.5)
    if share < 0.5:
        assert "the base is already pruned" in output and "Try:" in output
    assert "independent measurements that agree" in report or "did NOT agree" in report
    assert "median (95% interval)" in report


def test_bad_data_is_skipped_and_named_or_stops_the_search(search_setup, tmp_path):
    """A label line of class 9 (of 5) and a 0-byte image: skipped by default and named in the
    run folder; with --bad-data stop, an error before anything is measured, and no run."""
    data = tmp_path / "data"
    shutil.copytree(search_setup.data.parent, data)
    label = sorted((data / "labels" / "val").glob("*.txt"))[0]
    label.write_text(label.read_text() + "9 0.5 0.5 0.2 0.2\n")
    image = sorted((data / "images" / "train").glob("*"))[0]
    image.write_bytes(b"")
    broken = dataclasses.replace(search_setup, data=data / "data.yaml")
    runner = CliRunner()
    stopped = runner.invoke(main, broken.args("--target-speedup", "1.25", "--bad-data", "stop",
                                              "--out", str(tmp_path / "stopped")))
    assert stopped.exit_code == 1, stopped.output
    assert "2 problems (train: 1, val: 1) would leave data out" in stopped.output
    assert f"{label.name}:" in stopped.output and image.name in stopped.output
    assert not (tmp_path / "stopped").exists()
    result = invoke(broken.args("--target-speedup", "1.25", "--out", str(tmp_path), budget=1))
    assert "skipped 2 problems (train: 1, val: 1)" in result.output
    listed = (tmp_path / "search" / "exp" / "data_problems.txt").read_text().splitlines()
    assert len(listed) == 2 and "class 9 out of range 0..4" in listed[1]
    assert listed[0].startswith(f"train: unreadable_image: {image}")
