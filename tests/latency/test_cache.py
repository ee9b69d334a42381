import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency.cache import CacheKey, LatencyCache
from edgeprune.latency.result import DeviceIdentity, LatencyResult


def _result(median: float) -> LatencyResult:
    return LatencyResult(median_ms=median, p90_ms=median * 1.1, mean_ms=median, std_ms=0.01,
                         cv=0.01, runs=20, warmup_runs=5, warmup_s=0.1,
                         input_shape=(1, 3, 64, 64), precision="fp32", backend="ort-cpu",
                         backend_version="onnxruntime x", device=DeviceIdentity("cpu", "CPU"))


def _key(n: int) -> CacheKey:
    return CacheKey(f"cfg:{n}", (1, 3, 64, 64), "fp32", "ort-cpu onnxruntime x",
                    DeviceIdentity("cpu", "CPU", threads=1).key())


def test_put_get_and_keys(tmp_path):
    cache = LatencyCache(tmp_path / "c.sqlite")
    assert cache.get(_key(1)) is None
    cache.put(_key(1), _result(2.0))
    hit = cache.get(_key(1))
    assert hit.median_ms == 2.0 and hit.from_cache
    other_device = CacheKey("cfg:1", (1, 3, 64, 64), "fp32", "ort-cpu onnxruntime x",
                            DeviceIdentity("cpu", "CPU", threads=2).key())
    assert cache.get(other_device) is None
    assert cache.get(CacheKey("cfg:1", (1, 3, 64, 64), "int8", _key(1).backend,
                              _key(1).device)) is None
    cache.put(_key(1), _result(3.0))  # re-measure replaces
    assert cache.get(_key(1)).median_ms == 3.0 and len(cache) == 1
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()
    assert mode[0] == "wal"


def test_reference_baseline_is_the_first_recorded(tmp_path):
    cache = LatencyCache(tmp_path / "c.sqlite")
    assert cache.reference_baseline(_key(0)) is None
    cache.set_reference_baseline(_key(0), 1.0)
    cache.set_reference_baseline(_key(0), 5.0)
    assert cache.reference_baseline(_key(0)) == 1.0


def test_a_file_that_is_not_a_cache_is_named(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EdgepruneError, match=r"bad\.sqlite.*latency cache"):
        LatencyCache(bad)


WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_cache import _key, _result
from edgeprune.latency.cache import LatencyCache
cache = LatencyCache({path!r})
n = 0
while True:
    cache.put(_key(n), _result(float(n) + 1))
    n += 1
    if n == 5:
        print("ready", flush=True)
"""


def test_a_writer_killed_mid_stream_leaves_only_whole_rows(tmp_path):
    path = tmp_path / "c.sqlite"
    LatencyCache(path)
    code = WRITER.format(tests=os.path.dirname(__file__), path=str(path))
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdout.close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()
    cache = LatencyCache(path)
    rows = len(cache)
    assert rows >= 5
    for n in range(rows):  # rows are written in order: each one is complete and readable
        assert cache.get(_key(n)).median_ms == float(n) + 1


def _reader(path: str, count: int, queue) -> None:
    cache = LatencyCache(path)
    seen = 0
    deadline = time.monotonic() + 20
    while seen < count and time.monotonic() < deadline:
        seen = sum(cache.get(_key(n)) is not None for n in range(count))
    queue.put(seen)


def test_concurrent_readers_in_other_processes_see_committed_rows(tmp_path):
    path = str(tmp_path / "c.sqlite")
    cache = LatencyCache(path)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    readers = [context.Process(target=_reader, args=(path, 30, queue)) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for n in range(30):
            cache.put(_key(n), _result(n + 1.0))
        results = [queue.get(timeout=60) for _ in readers]
    finally:
        for reader in readers:
            reader.join(timeout=30)
    assert results == [30, 30, 30]
