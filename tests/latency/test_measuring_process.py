"""The measuring child process, driven directly (no HTTP): it measures like the backend in
this process, and a deadline, a cancellation or a crash ends its job within a second while
the next job gets a working child."""

import os
import signal
import threading
import time
from pathlib import Path

import anyio
import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency.measuring_process import JobEnded, MeasuringProcess
from edgeprune.latency.protocol import Protocol
from tests.latency.abuse_helpers import heavy_model, memory_bomb
from tests.latency.latency_helpers import FAST


@pytest.fixture(scope="module")
def child():
    process = MeasuringProcess("ort-cpu", {"threads": 1}, memory_bytes=256 << 20)
    process.start()
    yield process
    process.close()
    assert not process.alive


def _job(path: Path, shape=(1, 3, 64, 64), **protocol) -> dict:
    return {"model": str(path), "reference": None, "shape": list(shape), "precision": "fp32",
            "protocol": Protocol().with_overrides({**FAST, **protocol}).to_json()}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_it_measures_and_reports_its_backend_and_cap(child, tiny_onnx, tmp_path):
    assert child.info["backend"] == "ort-cpu" and child.info["device"]["threads"] == 1
    assert child.memory_cap == "RLIMIT_DATA"
    answer = anyio.run(child.run, _job(_write(tmp_path, "m.onnx", tiny_onnx)), 60)
    assert answer["kind"] == "result" and answer["result"]["median_ms"] > 0
    assert answer["result"]["backend"] == "ort-cpu"


def test_a_rejected_model_and_a_memory_bomb_leave_the_child_running(child, tmp_path):
    pid = child.pid
    answer = anyio.run(child.run, _job(_write(tmp_path, "j.onnx", b"\x08\x08junk")), 60)
    assert answer["kind"] == "rejected" and "cannot load" in answer["error"]
    answer = anyio.run(child.run, _job(_write(tmp_path, "b.onnx", memory_bomb(1 << 30)),
                                       shape=(1, 1)), 60)
    assert answer["kind"] == "memory", answer
    assert child.pid == pid


def test_the_deadline_kills_a_child_inside_a_long_run_and_the_next_job_restarts_it(
        child, tiny_onnx, tmp_path):
    pid = child.pid
    started = time.monotonic()
    with pytest.raises(JobEnded, match="deadline"):
        anyio.run(child.run, _job(_write(tmp_path, "h.onnx", heavy_model()), shape=(1, 1)), 1)
    assert time.monotonic() - started < 1 + 1 + 2  # deadline + grace and kill, + slack
    assert not child.alive
    answer = anyio.run(child.run, _job(_write(tmp_path, "m.onnx", tiny_onnx)), 60)
    assert answer["kind"] == "result" and child.pid != pid


def test_a_cancelled_job_stops_between_runs_without_killing_the_child(
        child, tiny_onnx, tmp_path):
    path = _write(tmp_path, "m.onnx", tiny_onnx)

    async def cancel_after(seconds: float) -> float:
        with anyio.move_on_after(seconds):
            await child.run(_job(path, max_seconds=20, min_runs=10000, max_runs=10000,
                                 max_remeasures=0), 60)
        return anyio.current_time()

    anyio.run(child.run, _job(path), 60)  # a live child, warmed up
    pid = child.pid
    started = time.monotonic()
    anyio.run(cancel_after, 1.0)
    assert time.monotonic() - started < 1.0 + 1 + 2
    assert child.pid == pid  # asked to stop, it stopped at its next run
    assert anyio.run(child.run, _job(path), 60)["kind"] == "result"


def test_a_child_that_dies_mid_job_is_reported_and_replaced(child, tiny_onnx, tmp_path):
    anyio.run(child.run, _job(_write(tmp_path, "m.onnx", tiny_onnx)), 60)
    killer = threading.Timer(0.5, os.kill, (child.pid, signal.SIGKILL))
    killer.start()
    try:
        with pytest.raises(JobEnded) as ended:
            anyio.run(child.run, _job(_write(tmp_path, "h.onnx", heavy_model()), shape=(1, 1)),
                      60)
    finally:
        killer.join()
    assert ended.value.reason == "died" and ended.value.exitcode == -signal.SIGKILL
    assert anyio.run(child.run, _job(tmp_path / "m.onnx"), 60)["kind"] == "result"


def test_a_backend_that_cannot_start_is_one_clear_error():
    with pytest.raises(EdgepruneError, match="ort-cpu: threads must be >= 0"):
        MeasuringProcess("ort-cpu", {"threads": -1}).start()
