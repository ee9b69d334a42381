"""`edgeprune device add|list|check|remove` and `--device NAME`, against a server on 127.0.0.1
(the only address these tests give)."""

import json
import stat

import pytest
import yaml
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.latency import resolve_device
from tests.latency.latency_helpers import TOKEN


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "jetson.token"
    path.write_text(TOKEN + "\n")
    return path


def test_add_list_check_and_measure_by_name(agent, token_file, private_config_dir, tmp_path):
    added = run("device", "add", "jetson", agent.url, "--token-file", str(token_file),
                "--profile", "cpu")
    assert "registered jetson" in added.output
    registry = private_config_dir / "devices.yaml"
    assert stat.S_IMODE(registry.stat().st_mode) == 0o600
    assert TOKEN not in registry.read_text()  # the path to the token, never the token
    entry = yaml.safe_load(registry.read_text())["devices"]["jetson"]
    assert entry == {"url": agent.url, "profile": "cpu", "token_file": str(token_file)}

    listed = run("device", "list")
    assert "jetson" in listed.output and agent.url in listed.output
    checked = run("device", "check", "jetson")
    assert "ok: jetson answers" in checked.output and "ort-cpu" in checked.output

    measured = run("latency", "yolov3-tiny", "--classes", "3", "--width", "0.25", "--imgsz",
                   "64", "--device", "jetson", "--no-latency-cache", "--protocol",
                   "max_seconds=0.3", "--json")
    result = json.loads(measured.output)
    assert result["backend"] == "ort-cpu" and result["device"]["threads"] == 1

    meter = resolve_device("jetson", cache=False)
    assert meter.profile.server == agent.url and meter.profile.name == "jetson"
    meter.close()
    run("device", "remove", "jetson")
    assert "no registered devices" in run("device", "list").output


def test_check_says_when_the_profile_expects_another_backend(agent, token_file):
    run("device", "add", "orin", agent.url, "--token-file", str(token_file), "--profile",
        "jetson-orin-nano")
    result = run("device", "check", "orin", code=1)
    assert "measures with ort-cpu, but tensorrt was asked for" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["bad name!", "http://127.0.0.1:9"], "device name 'bad name!'"),
    (["http-thing", "http://127.0.0.1:9"], "not starting with 'http'"),
    (["jetson", "ftp://127.0.0.1:9"], "expected http://HOST:PORT"),
    (["jetson", "http://127.0.0.1:99999"], "expected http://HOST:PORT"),
    (["jetson", "http://127.0.0.1:9/path"], "expected http://HOST:PORT"),
    (["jetson", "http://127.0.0.1:9", "--profile", "no-such-profile"],
     "no device profile 'no-such-profile'"),
    (["jetson", "http://127.0.0.1:9", "--token-file", "/nonexistent/token"],
     "/nonexistent/token: cannot read the token file"),
])
def test_bad_registrations_are_one_line(args, message):
    result = run("device", "add", *args, code=1)
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_name_is_registered_once_unless_replaced(token_file):
    run("device", "add", "jetson", "http://127.0.0.1:9", "--token-file", str(token_file))
    result = run("device", "add", "jetson", "http://127.0.0.1:10", code=1)
    assert "already registered" in result.output and "--replace" in result.output
    run("device", "add", "jetson", "http://127.0.0.1:10", "--replace")
    assert "127.0.0.1:10" in run("device", "list").output


def test_unknown_and_unreachable_devices_are_one_line(token_file):
    result = run("device", "check", "nope", code=1)
    assert result.output.strip() == "error: no registered device 'nope' (edgeprune device list)"
    run("device", "add", "gone", "http://127.0.0.1:9", "--token-file", str(token_file))
    result = run("device", "check", "gone", code=1)
    assert "http://127.0.0.1:9 is unreachable" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "no registered device 'nope'" in run("device", "remove", "nope", code=1).output


@pytest.mark.parametrize("text", ["devices: [1, 2", "devices: 3\n",
                                  "devices:\n  j: {url: 'http://127.0.0.1:9', colour: red}\n",
                                  "devices:\n  j: {profile: cpu}\n"])
def test_a_damaged_registry_is_one_line_naming_it(private_config_dir, text):
    registry = private_config_dir / "devices.yaml"
    registry.write_text(text)
    result = run("device", "list", code=1)
    assert str(registry) in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_without_a_profile_the_device_measures_as_its_server_does(agent, token_file,
                                                                  private_config_dir):
    run("device", "add", "board", agent.url, "--token-file", str(token_file))
    entry = yaml.safe_load((private_config_dir / "devices.yaml").read_text())["devices"]
    assert entry == {"board": {"url": agent.url, "token_file": str(token_file)}}
    assert "ok: board answers" in run("device", "check", "board").output
    meter = resolve_device("board", cache=False)
    assert meter.backend.measured_by() == "ort-cpu" and meter.precision == "fp32"
    meter.close()
