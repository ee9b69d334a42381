"""The device server in its own process, over loopback only: what it answers a good client,
where its token comes from, how the client gives up. The abuse probes are test_server_abuse.py.
"""

import os
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.latency import ModelRejected, Protocol, create_backend
from edgeprune.latency.client import ServerClient
from tests.latency.latency_helpers import FAST, TOKEN, ServerProcess, raw_request, wait_until

LONG_RUN = {**FAST, "max_seconds": 2, "min_runs": 10000, "max_runs": 10000}


def test_info_says_what_measures_there_and_its_limits(agent):
    status, info, _ = raw_request(agent.url, "GET", "/info")
    assert status == 200
    assert info["backend"] == "ort-cpu" and info["version"].startswith("onnxruntime")
    assert info["device"]["threads"] == 1 and info["max_upload_bytes"] == 3 * 2**20
    assert info["precisions"] == ["fp32", "int8"] and info["api"] == 1
    assert info["limits"]["max_waiting"] == 4 and info["limits"]["max_rank"] == 6


def test_wrong_or_missing_token_is_401(agent, tiny_onnx):
    assert raw_request(agent.url, "GET", "/info", token="wrong")[0] == 401
    assert raw_request(agent.url, "GET", "/info", token=None)[0] == 401
    status, payload, headers = raw_request(agent.url, "POST", "/measure?shape=1x3x64x64",
                                           tiny_onnx, token="nope")
    assert status == 401 and "token" in payload["error"]
    assert headers.get("www-authenticate") == "Bearer"
    with pytest.raises(EdgepruneError, match="refused the token"):
        ServerClient(agent.url, "wrong").info()


def test_garbage_upload_is_400_and_the_server_keeps_serving(agent):
    status, payload, _ = raw_request(agent.url, "POST", "/measure?shape=1x3x64x64",
                                     b"\x00\x01 definitely not onnx")
    assert status == 400 and "not an ONNX file" in payload["error"]
    status, payload, _ = raw_request(agent.url, "POST", "/measure?shape=1x3x64x64",
                                     b"\x08\x07 starts like onnx, is not")
    assert status == 400 and "cannot load the model" in payload["error"]
    assert raw_request(agent.url, "POST", "/measure?shape=banana", b"x")[0] == 400
    assert raw_request(agent.url, "POST", "/measure?shape=1x3x64x64&max_runs=-1", b"x")[0] == 400
    assert raw_request(agent.url, "POST", "/elsewhere", b"x")[0] == 404
    assert raw_request(agent.url, "GET", "/measure")[0] == 405
    assert raw_request(agent.url, "GET", "/info")[0] == 200
    with pytest.raises(ModelRejected, match="rejected the request"):
        ServerClient(agent.url, TOKEN).measure(b"junk", (1, 3, 64, 64), "fp32")


def test_upload_over_the_limit_is_refused(agent):
    big = b"\x08" * (5 * 2**20)
    status, payload, _ = raw_request(agent.url, "POST", "/measure?shape=1x3x64x64", big)
    assert status == 413 and "exceeds" in payload["error"]
    backend = create_backend("remote", url=agent.url, token=TOKEN)
    with pytest.raises(EdgepruneError, match="accepts at most 3.0 MiB"):
        backend.measure(big, (1, 3, 64, 64), "fp32")
    backend.close()
    assert raw_request(agent.url, "GET", "/info")[0] == 200


def test_remote_measures_by_the_clients_protocol_like_local(agent, fast_protocol):
    from edgeprune.models import create
    from edgeprune.onnxio.serialize import onnx_bytes

    model = onnx_bytes(create("yolov3-tiny", num_classes=3, width=0.25, imgsz=128),
                       (128, 128))
    # min_runs == max_runs and time to spare: both sides must time exactly 37 runs, which
    # shows the server measured by the protocol the client sent, not by its own defaults.
    protocol = fast_protocol.with_overrides({"min_runs": 37, "max_runs": 37, "max_seconds": 30,
                                             "max_remeasures": 0})
    local = create_backend("ort-cpu", threads=1)
    remote = create_backend("remote", url=agent.url, token=TOKEN)
    local_result = local.measure(model, (1, 3, 128, 128), "fp32", protocol)
    result = remote.measure(model, (1, 3, 128, 128), "fp32", protocol)
    assert result.backend == "ort-cpu" and result.device.threads == 1
    assert result.runs == local_result.runs == 37
    assert result.warmup_runs >= 3 and result.input_shape == (1, 3, 128, 128)
    assert result.precision == "fp32" and not result.from_cache
    lower, upper = result.median_ci_ms
    assert 0 < lower <= result.median_ms <= upper
    assert remote.cache_backend_key() == local.cache_backend_key()
    assert remote.identity() == local.identity()  # same machine: shared cache rows
    # How close the server's times are to local ones is a performance claim, measured side
    # by side in benchmarks/latency_measurement.py, not asserted here on a shared machine.
    remote.close()


def test_two_clients_at_once_both_get_their_own_results(agent, tiny_onnx):
    protocol = Protocol().with_overrides(FAST)
    results: dict[int, object] = {}

    def measure(batch: int) -> None:
        client = ServerClient(agent.url, TOKEN, timeout_s=60)
        try:
            results[batch] = client.measure(tiny_onnx, (batch, 3, 64, 64), "fp32", protocol)
        except Exception as exc:  # reported by the assertion below
            results[batch] = exc

    threads = [threading.Thread(target=measure, args=(b,)) for b in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results[1].input_shape == (1, 3, 64, 64)
    assert results[2].input_shape == (2, 3, 64, 64)
    assert results[2].median_ms > 0 and results[1].median_ms > 0


def test_uploads_are_deleted_after_each_request(agent, tiny_onnx):
    folders = list(Path(tempfile.gettempdir()).glob(f"edgeprune-server-{agent.pid}-*"))
    assert len(folders) == 1
    ServerClient(agent.url, TOKEN).measure(tiny_onnx, (1, 3, 64, 64), "fp32",
                                          Protocol().with_overrides(FAST))
    raw_request(agent.url, "POST", "/measure?shape=1x3x64x64", b"\x08junk")
    assert list(folders[0].iterdir()) == []


def test_busy_device_answers_503_and_stop_removes_the_temp_folder(tiny_onnx):
    busy = ServerProcess("--busy-wait", "0.2")
    try:
        client = ServerClient(busy.url, TOKEN, timeout_s=60)
        worker = threading.Thread(target=client.measure, args=(
            tiny_onnx, (1, 3, 64, 64), "fp32", Protocol().with_overrides(LONG_RUN)))
        worker.start()
        assert wait_until(lambda: raw_request(busy.url, "GET", "/info")[1]["busy"], 10)
        status, payload, headers = raw_request(busy.url, "POST", "/measure?shape=1x3x64x64",
                                               tiny_onnx)
        assert status == 503 and "busy" in payload["error"]
        assert headers.get("retry-after") == "5"
        worker.join(timeout=30)
    finally:
        busy.stop()
    assert not list(Path(tempfile.gettempdir()).glob(f"edgeprune-server-{busy.pid}-*"))


def test_a_killed_server_gives_a_clear_error_not_a_hang(tiny_onnx):
    doomed = ServerProcess()
    outcome: dict = {}
    long_run = {**LONG_RUN, "max_seconds": 30}

    def measure() -> None:
        client = ServerClient(doomed.url, TOKEN, timeout_s=60, retries=2, backoff_s=0.2)
        started = time.monotonic()
        try:
            client.measure(tiny_onnx, (1, 3, 64, 64), "fp32", Protocol().with_overrides(long_run))
        except EdgepruneError as exc:
            outcome["error"] = str(exc)
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=measure)
    try:
        worker.start()
        assert wait_until(lambda: raw_request(doomed.url, "GET", "/info")[1]["busy"], 10)
        os.kill(doomed.pid, 9)
        worker.join(timeout=30)
    finally:
        doomed.stop()
    assert not worker.is_alive()
    assert "unreachable or dropped the connection" in outcome["error"]
    assert outcome["seconds"] < 20


def test_loopback_detection_drives_the_exposure_warning():
    from edgeprune.latency.server_http import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("10.1.2.3")


@pytest.mark.parametrize("token", [" ", "a", "short-token-15c", "with space inside 1234"])
def test_weak_tokens_are_refused_from_every_source(tmp_path, token):
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    for args, env in ((["--token-file", str(token_file)], {}),
                      ([], {"EDGEPRUNE_SERVER_TOKEN": token}),
                      (["--token", token], {})):
        result = CliRunner().invoke(main, ["device", "serve", "--port", "0", *args], env=env)
        assert result.exit_code == 1, result.output
        assert len(result.output.strip().splitlines()) == 1 + ("--token" in args)  # + warning
        assert ("the token must be at least 16 printable characters" in result.output or
                "the token file is empty" in result.output), result.output


def test_an_empty_token_on_the_command_line_is_refused_not_replaced(private_config_dir):
    result = CliRunner().invoke(main, ["device", "serve", "--port", "0", "--token", ""],
                                env={"EDGEPRUNE_SERVER_TOKEN": "",
                                     "EDGEPRUNE_CONFIG_DIR": str(private_config_dir)})
    assert result.exit_code == 1, result.output
    assert "error: --token: the token must be at least 16 printable characters" in \
        result.output and "(it got 0)" in result.output
    assert not (private_config_dir / "server-token").exists()  # no token was made instead


def test_a_missing_token_file_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(main, ["device", "serve", "--token-file",
                                       str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: cannot read the token file (No such file or directory)"]


def test_without_a_token_one_is_made_once_and_kept(private_config_dir):
    env = {"EDGEPRUNE_SERVER_TOKEN": "", "EDGEPRUNE_CONFIG_DIR": str(private_config_dir)}
    first = ServerProcess(env=env)
    try:
        token_file = private_config_dir / "server-token"
        token = token_file.read_text().strip()
        assert len(token) >= 16 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert "made a token" in first.log_text() and token in first.log_text()
        assert raw_request(first.url, "GET", "/info", token=token)[0] == 200
    finally:
        first.stop()
    second = ServerProcess(env=env)
    try:
        assert "using the token in" in second.log_text() and token not in second.log_text()
        assert raw_request(second.url, "GET", "/info", token=token)[0] == 200
    finally:
        second.stop()


def test_the_token_stays_out_of_ps_unless_given_on_the_command_line(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    quiet = ServerProcess("--token-file", str(token_file), env={"EDGEPRUNE_SERVER_TOKEN": ""})
    try:
        assert TOKEN not in Path(f"/proc/{quiet.pid}/cmdline").read_text()
        assert raw_request(quiet.url, "GET", "/info")[0] == 200
        assert "warning" not in quiet.log_text()
    finally:
        quiet.stop()
    loud = ServerProcess("--token", TOKEN)
    try:
        assert "shows in `ps`" in loud.log_text()
    finally:
        loud.stop()


def test_a_client_without_token_or_server_fails_fast():
    with pytest.raises(EdgepruneError, match="needs its token"):
        ServerClient("http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(EdgepruneError, match="unreachable"):
        ServerClient("http://127.0.0.1:9", "t", retries=1, backoff_s=0.05).info()
    assert time.monotonic() - started < 5


def test_a_port_in_use_is_a_clear_error():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["device", "serve", "--port", str(port)],
                                    env={"EDGEPRUNE_SERVER_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_the_client_module_imports_first():
    """`from edgeprune.latency.client import ServerClient` as a first import (it was circular)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from edgeprune.latency.client import "
                           "ServerClient; print(ServerClient.__name__)"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ServerClient"
