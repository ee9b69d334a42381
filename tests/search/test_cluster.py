"""A search on a real local Ray cluster (2 CPUs, no dashboard, 127.0.0.1) with two device
servers on loopback as its pool: the same records whatever the number of workers or none, and
the faults: a worker process killed mid-candidate, device servers that go away, the driver
killed -9 and resumed. Nothing lost, nothing recorded twice. Every process a test starts is
ended by the test, by its own id; the cluster is shared by the module and shut down after it.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray
import yaml
from rich.console import Console

from edgeprune.errors import EdgepruneError
from edgeprune.search.cluster import ClusterOptions, RayExecutor
from edgeprune.search.loop import Search
from edgeprune.search.proxy import ProxySettings
from edgeprune.search.records import CandidateLog
from edgeprune.search.settings import SearchSettings
from edgeprune.search.target import Target
from tests.latency.latency_helpers import FAST, TOKEN, ServerProcess

POOL = "pool-test"  # the profile's name: its device resource is device:pool-test
BUDGET, ROUND = 6, 3
TIMEOUT_S = 180


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             resources={f"device:{POOL}": 2}, _node_ip_address="127.0.0.1")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def servers():
    started = [ServerProcess("--token", TOKEN), ServerProcess("--token", TOKEN)]
    yield started
    for server in started:
        server.stop()


def pool_profile(path: Path, urls: list[str]) -> Path:
    path.write_text(yaml.safe_dump({"name": POOL, "backend": "ort-cpu", "servers": urls}))
    return path


def settings_for(setup, device: Path, cache: Path) -> SearchSettings:
    return SearchSettings(
        weights=str(setup.weights), data=str(setup.data), target=Target(speedup=1.25),
        device=str(device), protocol=dict(FAST), latency_cache=str(cache), agent="abcp",
        budget=BUDGET, round_size=ROUND, proxy_settings=ProxySettings(recal_batches=2,
                                                                      batch_size=4),
        val_images=4)


def executor(workers: int, output: io.StringIO | None = None) -> RayExecutor:
    console = Console(file=output or io.StringIO(), width=200)
    return RayExecutor(ClusterOptions("local", workers=workers), console=console)


def measure_requests(server: ServerProcess) -> int:
    # the server logs one "measured ..." line per measurement it answers
    return server.log_text().count(" measured ")


def same_records(ours, reference) -> None:
    assert [r.step for r in ours] == list(range(BUDGET))
    assert [r.spec_hash for r in ours] == [r.spec_hash for r in reference]
    assert [r.accuracy for r in ours] == [r.accuracy for r in reference]
    assert [r.latency_ms for r in ours] == [r.latency_ms for r in reference]


@pytest.fixture(scope="module")
def reference(cluster, servers, search_setup, tmp_path_factory):
    """A search on 2 workers and the pool of 2 servers: its records, and its latency cache
    (measured latency is noisy, so runs compared with it reuse what it measured)."""
    root = tmp_path_factory.mktemp("cluster")
    device = pool_profile(root / "pool.yaml", [s.url for s in servers])
    before = [measure_requests(s) for s in servers]
    outcome = Search.start(settings_for(search_setup, device, root / "cache.sqlite"),
                           root / "reference", token=TOKEN, show_progress=False,
                           executor=executor(2)).run()
    assert len(outcome.records) == BUDGET and outcome.measured == BUDGET
    # both boards measured candidates (the base was measured on the first, by the driver)
    after = [measure_requests(s) for s in servers]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    return root, device, outcome.records


def cache_copy(reference, tmp_path: Path) -> Path:
    root, _, _ = reference
    return Path(shutil.copy(root / "cache.sqlite", tmp_path / "cache.sqlite"))


def test_records_do_not_depend_on_the_workers(reference, search_setup, tmp_path):
    """With the reference's measurements, 1 worker and the plain local search record exactly
    what 2 workers recorded: the round size decides what is proposed, not the workers."""
    _, device, records = reference
    one = Search.start(settings_for(search_setup, device, cache_copy(reference, tmp_path)),
                       tmp_path / "one", token=TOKEN, show_progress=False,
                       executor=executor(1)).run()
    same_records(one.records, records)
    assert one.measured == 0
    (tmp_path / "cache.sqlite").unlink()
    local = Search.start(settings_for(search_setup, device, cache_copy(reference, tmp_path)),
                         tmp_path / "local", token=TOKEN, show_progress=False).run()
    same_records(local.records, records)


def run_in_thread(search: Search) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def target() -> None:
        try:
            result["outcome"] = search.run()
        except EdgepruneError as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow  # the default run keeps the reference search and the workers test
def test_a_killed_worker_process_costs_nothing(reference, search_setup, tmp_path):
    _, device, records = reference
    output = io.StringIO()
    ray_executor = executor(2, output)
    search = Search.start(settings_for(search_setup, device, cache_copy(reference, tmp_path)),
                          tmp_path / "run", token=TOKEN, show_progress=False,
                          executor=ray_executor)
    thread, result = run_in_thread(search)
    wait_for(lambda: ray_executor.busy_worker_pids() or not thread.is_alive(),
             "a worker evaluating a candidate")
    victim = ray_executor.busy_worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    thread.join(TIMEOUT_S)
    assert not thread.is_alive() and "error" not in result, result
    same_records(result["outcome"].records, records)
    assert "was lost" in output.getvalue() and "runs again" in output.getvalue()
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)


@pytest.mark.slow  # servers stopped and restarted under a running search
def test_device_servers_that_go_away(cluster, search_setup, tmp_path):
    """One board of two goes away: the pool carries on with the other. Then that one too: the
    search stops, saying so. Resumed on a new board, it finishes: nothing lost or repeated."""
    first, second = ServerProcess("--token", TOKEN), ServerProcess("--token", TOKEN)
    replacement = None
    try:
        device = pool_profile(tmp_path / "pool.yaml", [first.url, second.url])
        output = io.StringIO()
        run = tmp_path / "run"
        search = Search.start(settings_for(search_setup, device, tmp_path / "cache.sqlite"),
                              run, token=TOKEN, show_progress=False,
                              executor=executor(2, output))
        thread, result = run_in_thread(search)
        wait_for(lambda: CandidateLog(run).read() or not thread.is_alive(), "a candidate")
        first.stop(signal.SIGKILL)
        wait_for(lambda: "went away" in output.getvalue() or not thread.is_alive(),
                 "the pool to notice")
        second.stop(signal.SIGKILL)
        thread.join(TIMEOUT_S)
        assert not thread.is_alive()
        assert f"{first.url} went away" in output.getvalue(), output.getvalue()
        assert "continuing on the other 1" in output.getvalue()
        assert "no latency devices left" in str(result.get("error")), result
        kept = CandidateLog(run).read()
        assert 1 <= len(kept) < BUDGET

        replacement = ServerProcess("--token", TOKEN)
        pool_profile(device, [replacement.url])
        resumed = Search.resume(run, token=TOKEN, show_progress=False).run()  # no cluster
        assert [r.step for r in resumed.records] == list(range(BUDGET))
        assert resumed.records[:len(kept)] == kept and resumed.replayed == len(kept)
    finally:
        for server in (first, second, replacement):
            if server is not None:
                server.stop()


@pytest.mark.slow  # a second cluster search, killed and resumed
def test_driver_killed_and_resumed(cluster, reference, search_setup, tmp_path):
    """`edgeprune search --cluster ADDRESS` in its own process, killed -9 in the middle of a
    round, then resumed (without a cluster: a run does not depend on where it ran): the
    reference's records, none lost, none twice."""
    _, device, records = reference
    cache = cache_copy(reference, tmp_path)
    settings = settings_for(search_setup, device, cache)
    command = [sys.executable, "-c", "from edgeprune.cli import main; main()", "search",
               "--data", settings.data, "--weights", settings.weights, "--device", str(device),
               "--target-speedup", "1.25", "--agent", "abcp", "--budget", str(BUDGET),
               "--round-size", str(ROUND), "--recal-batches", "2", "--recal-batch", "4",
               "--val-images", "4", "--latency-cache", str(cache), "--out", str(tmp_path),
               "--name", "killed", "--cluster", cluster, "--accuracy-workers", "2",
               *[item for key, value in FAST.items() for item in ("--protocol",
                                                                  f"{key}={value}")]]
    run = tmp_path / "search" / "killed"
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "EDGEPRUNE_SERVER_TOKEN": TOKEN})
    try:
        wait_for(lambda: len(CandidateLog(run).read()) >= 2 or driver.poll() is not None,
                 "two candidates")
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL
    before = CandidateLog(run).read()
    assert 2 <= len(before) < BUDGET
    resumed = Search.resume(run, token=TOKEN, show_progress=False).run()  # here, no cluster
    same_records(resumed.records, records)
    assert resumed.records[:len(before)] == before
    assert resumed.replayed == len(before) and resumed.evaluated == BUDGET - len(before)
