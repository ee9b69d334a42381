"""The device server builds a base's layer units on its device (POST /units), over loopback:
a slice at a time, every unit kept in the server's own cache, so the client resumes and a
second request measures nothing; bad requests are one-line 4xx answers. TensorRT's paths
skip, with the reason, where TensorRT is missing."""

from __future__ import annotations

import http.client
import importlib.util
import json
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from types import SimpleNamespace

import pytest

from edgeprune.latency import LatencyCache, LatencyMeter, Protocol, create_backend, resolve_device
from edgeprune.latency.lut import DEFAULT_GRID, LatencyPredictor, build_table
from edgeprune.latency.result import LatencyResult
from edgeprune.latency.server_units import MAX_UNITS
from edgeprune.latency.units import measure_unit_table
from edgeprune.models import create
from edgeprune.models.cfg import parse_cfg
from edgeprune.models.cfg_writer import write_cfg_text
from tests.latency.latency_helpers import FAST, TOKEN, ServerProcess, raw_request, wait_until

IMGSZ = (64, 64)
ROUND_TO = 4
BASE = create("yolov3", num_classes=3, width=0.125, imgsz=64).cfg
# two convs, a maxpool and an upsample: every unit kind in a few dozen units (for TensorRT,
# where each unit is an engine build)
SMALL_CFG = """[net]
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=1
stride=1
pad=1
activation=leaky

[upsample]
stride=2
"""
# 70 convs of as many widths: 8 x 8 grid points each, over the server's bound on units
CHAIN = parse_cfg("[net]\nwidth=16\nheight=16\nchannels=3\n" + "".join(
    f"\n[convolutional]\nfilters={64 + 8 * i}\nsize=1\nactivation=leaky\n" for i in range(70)))
TENSORRT = importlib.util.find_spec("tensorrt") is not None
NO_TENSORRT = ("TensorRT is not installed in this environment (its PyPI package downloads "
               "from NVIDIA's index); runs on a Jetson or GPU box")


def units_body(cfg=BASE, **fields) -> bytes:
    return json.dumps({"cfg": write_cfg_text(cfg), "imgsz": list(IMGSZ), "round_to": ROUND_TO,
                       **fields}).encode()


def post_units(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, dict]:
    status, payload, _ = raw_request(url, "POST", "/units", body, token=token, timeout=120)
    return status, payload


def cached_units(path) -> list[LatencyResult]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT result FROM measurements").fetchall()
    return [LatencyResult.loads(row[0]) for row in rows]


def structure(table: LatencyPredictor) -> dict:
    return {group: [(c_in, c_out) for c_in, c_out, _ in points]
            for group, points in table.entries.items()}


@pytest.fixture(scope="module")
def units_server(tmp_path_factory):
    """A server whose /units answers after 2 s of work, with its own unit cache."""
    cache = tmp_path_factory.mktemp("units") / "units.sqlite"
    server = ServerProcess("--units-cache", str(cache), "--units-slice", "2")
    yield SimpleNamespace(url=server.url, cache=cache, process=server)
    server.stop()


@pytest.fixture(scope="module")
def built(units_server):
    """One slice asked by hand, the table completed by a search's call (a remote meter), then
    the same request again."""
    first = post_units(units_server.url, units_body())
    meter = resolve_device(units_server.url, token=TOKEN, cache=False)
    progress: list[tuple[int, int]] = []
    table = measure_unit_table(meter, BASE, IMGSZ, ROUND_TO,
                               lambda done, total: progress.append((done, total)))
    meter.close()
    again = post_units(units_server.url, units_body())
    return SimpleNamespace(first=first, table=table, progress=progress, again=again)


def test_a_slice_answers_what_it_timed_and_the_client_resumes_until_complete(built):
    status, first = built.first
    assert status == 200 and first["complete"] is False and "table" not in first
    assert 1 <= first["measured"] < first["units"]  # a 2 s slice of ~20 s of units
    assert first["done"] == first["measured"] + first["cached"]
    dones = [done for done, _ in built.progress]
    assert len(dones) >= 2 and dones == sorted(set(dones))  # every answer got further
    assert dones[0] > first["done"]  # resumed from the server's cache
    assert built.progress[-1] == (first["units"], first["units"])


def test_the_table_has_the_units_the_local_path_has_timed_on_the_servers_device(built):
    local = build_table(BASE, IMGSZ, lambda model: 1.0, DEFAULT_GRID, ROUND_TO)
    table = built.table
    assert structure(table) == structure(local)  # same unit groups, same channel counts
    assert {group.split('"')[1] for group in table.entries} == {"conv", "upsample"}
    assert all(ms >= 0 for points in table.entries.values() for *_, ms in points)
    assert table.imgsz == IMGSZ and table.meta["per_run_ms"] > 0
    assert table.meta["backend"].startswith("ort-cpu onnxruntime")
    assert table.meta["device"].endswith("1 thread") and table.meta["base"] == BASE.source
    assert table.meta["grid"] == list(DEFAULT_GRID) and table.meta["round_to"] == ROUND_TO


def test_a_second_request_is_answered_from_the_servers_cache(built, units_server):
    status, again = built.again
    units = again["units"]
    assert status == 200 and again["complete"] is True and again["done"] == units
    assert again["measured"] == 0 and again["cached"] == units
    assert again["build_s"] == 0 and again["timing_s"] == 0
    assert LatencyPredictor.from_json(again["table"]).entries == built.table.entries
    results = cached_units(units_server.cache)
    assert len(results) == units  # every unit, the per-run one included, kept once
    assert all(r.engine_build_s is None and 0 < r.timing_s <= r.total_s for r in results)


@pytest.mark.parametrize(("body", "status", "says"), [
    (b"{not json", 400, "not a JSON object"),
    (units_body(colour="red"), 400, "unknown field 'colour'"),
    (json.dumps({"imgsz": [64, 64]}).encode(), 400, "field 'cfg'"),
    (units_body(imgsz=[64]), 400, "field 'imgsz'"),
    (units_body(imgsz=[64, 99999]), 400, "field 'imgsz'"),
    (units_body(grid=[0, 2]), 400, "field 'grid'"),
    (units_body(round_to=True), 400, "field 'round_to'"),
    (units_body(precision="fp16"), 400, "measures fp32, int8"),
    (units_body(imgsz=[8, 8]), 400, "route joins outputs of different sizes"),
    (json.dumps({"cfg": "[net]\nwidth=64\n\n[convolutional]\nfilters=many\n",
                 "imgsz": [64, 64]}).encode(), 400, "cfg:5: filters"),
    (units_body(CHAIN, imgsz=[16, 16], grid=[i / 8 for i in range(1, 9)], round_to=1), 400,
     f"over this server's {MAX_UNITS}"),
    (units_body(parse_cfg(SMALL_CFG.replace("filters=16", "filters=16384")), imgsz=[16, 16]),
     400, "its weights take"),  # 1 GiB of weights in one unit
    (b"{" + b" " * (300 << 10) + b"}", 413, "at most 262144 bytes"),
])
def test_bad_requests_are_one_line_4xx_and_the_server_keeps_serving(units_server, body,
                                                                    status, says):
    answer_status, answer = post_units(units_server.url, body)
    assert answer_status == status and says in answer["error"]
    assert "\n" not in answer["error"]
    assert raw_request(units_server.url, "GET", "/info")[0] == 200


def test_units_need_the_token_and_post(units_server):
    assert post_units(units_server.url, units_body(), token="wrong")[0] == 401
    status, payload, _ = raw_request(units_server.url, "GET", "/units")
    assert status == 405 and "POST /units" in payload["error"]
    assert raw_request(units_server.url, "GET", "/info")[1]["units"] == MAX_UNITS


def test_a_client_that_goes_away_stops_the_work_and_keeps_what_was_timed(units_server):
    before = len(cached_units(units_server.cache))
    parts = urllib.parse.urlsplit(units_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("POST", "/units", units_body(round_to=8),  # a table not timed yet
                       {"Authorization": f"Bearer {TOKEN}"})
    assert wait_until(lambda: len(cached_units(units_server.cache)) > before, 20)
    connection.close()
    assert wait_until(lambda: "went away; its measurement was stopped"
                      in units_server.process.log_text(), 10)
    kept = len(cached_units(units_server.cache))
    time.sleep(1.0)
    assert len(cached_units(units_server.cache)) == kept > before  # stopped; nothing lost
    assert wait_until(lambda: not raw_request(units_server.url, "GET", "/info")[1]["busy"], 5)


def test_the_server_and_its_measuring_process_read_cfgs_and_build_units_without_torch():
    """torch took 1.4 s and 180 MB here (edgeprune/models/__init__.py): a board's server and
    its measuring child do without it."""
    code = ("import sys; from edgeprune.latency.server import DeviceServer; "
            "from edgeprune.latency.server_units import parse_units_request; "
            "from edgeprune.latency.server_limits import ServerLimits; "
            "from edgeprune.latency.measure_child import _unit_model; "
            f"asked = parse_units_request({units_body()!r}, ServerLimits(), ['fp32']); "
            "_unit_model(asked.units[5].to_json()); print(sorted(m for m in sys.modules "
            "if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.skipif(not TENSORRT, reason=NO_TENSORRT)
def test_tensorrt_units_are_single_layer_engines_with_build_and_timing_apart(tmp_path):
    small = parse_cfg(SMALL_CFG)
    cache = tmp_path / "cache.sqlite"
    backend = create_backend("tensorrt", workspace_mb=256, timing_cache=tmp_path / "timing")
    meter = LatencyMeter(backend, cache=LatencyCache(cache),
                         protocol=Protocol().with_overrides(FAST), precision="fp16")
    table = measure_unit_table(meter, small, (32, 32), ROUND_TO)
    meter.close()
    assert structure(table) == structure(build_table(small, (32, 32), lambda model: 1.0,
                                                     DEFAULT_GRID, ROUND_TO))
    results = cached_units(cache)
    assert results and all(r.engine_build_s > 0 and r.timing_s > 0 for r in results)
    assert all(r.total_s >= r.engine_build_s + r.timing_s for r in results)


@pytest.mark.skipif(not TENSORRT, reason=NO_TENSORRT)
def test_a_tensorrt_server_builds_the_units_on_its_gpu(tmp_path):
    server = ServerProcess("--backend", "tensorrt", "--units-cache", str(tmp_path / "u.db"),
                           "--timing-cache", str(tmp_path / "timing"))
    body = units_body(parse_cfg(SMALL_CFG), imgsz=[32, 32], precision="fp16")
    try:
        answers = [post_units(server.url, body)]
        while answers[-1][0] == 200 and not answers[-1][1]["complete"]:  # 60 s slices
            answers.append(post_units(server.url, body))
        assert answers[-1][0] == 200
        assert sum(answer["measured"] for _, answer in answers) == answers[-1][1]["units"]
        assert all(answer["build_s"] > 0 and answer["timing_s"] > 0 for _, answer in answers)
        table = LatencyPredictor.from_json(answers[-1][1]["table"])
        assert table.meta["backend"].startswith("tensorrt") and table.meta["per_run_ms"] > 0
    finally:
        server.stop()
