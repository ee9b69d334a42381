"""The spellings of the last release keep working for one more, each with one warning on stderr
naming its replacement (edgeprune.cli.deprecation, edgeprune.deprecation)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.cli.deprecation import deprecated_alias, torch_device
from edgeprune.cli.options import ImageSize
from edgeprune.errors import EdgepruneError


class Reached(EdgepruneError):
    """Raised by a stand-in for the work a verb does, carrying what the verb handed it."""


def capture(monkeypatch, module, name: str) -> None:
    """Replace `module.name` by a function that stops the verb and shows its arguments."""

    def stand_in(*args, **kwargs):
        raise Reached(f"reached {name} with {args} {kwargs}")

    monkeypatch.setattr(module, name, stand_in)


def run(*args) -> click.testing.Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@click.command()
@click.option("--new-name", type=int)
@deprecated_alias("--old-name", "--new-name", type=int)
def toy(new_name):
    click.echo(f"new_name={new_name}")


def test_an_alias_hands_its_value_to_the_new_option_with_a_warning():
    runner = CliRunner()
    new = runner.invoke(toy, ["--new-name", "3"])
    assert new.exit_code == 0 and new.stdout == "new_name=3\n" and not new.stderr
    old = runner.invoke(toy, ["--old-name", "3"])
    assert old.exit_code == 0 and old.stdout == "new_name=3\n"
    assert "--old-name is deprecated" in old.stderr and "use --new-name" in old.stderr
    both = runner.invoke(toy, ["--old-name", "3", "--new-name", "4"])
    assert both.exit_code == 2 and "give --new-name only" in both.output
    assert "--old-name" not in runner.invoke(toy, ["--help"]).output  # hidden


def test_old_device_takes_torch_devices_only():
    assert [torch_device(v) for v in ("cpu", "cuda", "cuda:1", None)] == ["cpu", "cuda",
                                                                         "cuda:1", None]
    with pytest.raises(click.BadParameter, match="--torch-device"):
        torch_device("jetson")
    result = run("train", "--data", "d.yaml", "--device", "jetson")
    assert result.exit_code == 2 and "not a torch device" in result.output
    result = run("train", "--data", "d.yaml", "--device", "cpu", "--torch-device", "cpu")
    assert result.exit_code == 2 and "give --torch-device only" in result.output


@pytest.mark.parametrize("verb", ["train", "finetune", "supernet train"])
def test_training_verbs_take_torch_device_and_threads_under_both_names(monkeypatch, verb):
    from edgeprune.train import distributed

    capture(monkeypatch, distributed, "join")  # the first use of the torch device
    for spelling in (["--torch-device", "cpu"], ["--device", "cpu"]):
        result = run(*verb.split(), "--weights", "w.pt", *spelling)
        if verb == "train":
            assert "reached join with ('cpu',)" in result.output, result.output
        assert ("--device is deprecated" in result.output) == (spelling[0] == "--device")
    if verb != "finetune":
        help_text = run(*verb.split(), "--help").output
        assert "--torch-threads" in help_text and "--threads" not in help_text


def test_detection_verbs_take_runtime_and_torch_device_under_both_names(monkeypatch, tmp_path):
    from edgeprune.cli import eval_cmds

    capture(monkeypatch, eval_cmds, "build_detector")
    (tmp_path / "image.jpg").write_bytes(b"")  # never read: the detector comes first
    for args in (["--runtime", "torch", "--torch-device", "cpu"],
                 ["--backend", "torch", "--device", "cpu"]):
        result = run("predict", "--weights", "w.pt", "--source", tmp_path, *args)
        assert "'w.pt', None, None, None, 'torch', 'cpu'" in result.output, result.output
        deprecated = args[0] == "--backend"
        assert ("--backend is deprecated" in result.output) == deprecated
        assert ("--device is deprecated" in result.output) == deprecated


def test_latency_takes_the_new_cache_and_threads_options_and_the_old(monkeypatch, tmp_path):
    from edgeprune.cli import latency_cmds

    capture(monkeypatch, latency_cmds, "open_meter")
    cache = tmp_path / "c.sqlite"
    for args in (["--ort-threads", 1, "--latency-cache", cache],
                 ["--threads", 1, "--cache", cache]):
        result = run("latency", "yolov3-tiny", *args)
        assert f"('cpu', None, 1, None, '{cache}', False" in result.output, result.output
        assert ("--cache is deprecated" in result.output) == (args[0] == "--threads")
    for flag in ("--no-latency-cache", "--no-cache"):
        result = run("latency", "yolov3-tiny", flag)
        assert "'cpu', None, None, None, None, True" in result.output, result.output


def test_search_takes_ort_threads_and_the_old_threads(monkeypatch):
    from edgeprune.cli import search_cmd

    capture(monkeypatch, search_cmd, "_settings")
    for spelling in ("--ort-threads", "--threads"):
        result = run("search", "--data", "d.yaml", spelling, 2)
        assert "'ort_threads': 2" in result.output, result.output
        assert ("--threads is deprecated" in result.output) == (spelling == "--threads")


@pytest.mark.parametrize("group", ["device", "agent"])
def test_the_server_is_device_serve_and_agent_serve_is_its_old_name(monkeypatch, group,
                                                                    tmp_path):
    from edgeprune.latency import server

    # the server makes its backend in its measuring process: stop at the server itself (a
    # stand-in for create_backend is never called here, and the server would serve forever)
    capture(monkeypatch, server, "DeviceServer")
    token = tmp_path / "token"
    token.write_text("a-strong-enough-token-0123\n")
    result = run(group, "serve", "--token-file", token, "--threads", 2)
    assert "reached DeviceServer with ('ort-cpu'," in result.output, result.output
    assert "'backend_options': {'threads': 2}" in result.output
    assert ("`edgeprune agent serve` is deprecated" in result.output) == (group == "agent")
    assert "use `edgeprune device serve`" in result.output or group == "device"
    assert "agent" not in run("--help").output.split("Commands:")[1]  # hidden


def test_the_old_token_variable_is_read_with_a_warning(monkeypatch, capsys):
    from edgeprune.latency.tokens import client_token

    monkeypatch.setenv("EDGEPRUNE_AGENT_TOKEN", "old-name-token-0123456")
    assert client_token() == "old-name-token-0123456"
    assert "EDGEPRUNE_AGENT_TOKEN is deprecated" in capsys.readouterr().err
    monkeypatch.setenv("EDGEPRUNE_SERVER_TOKEN", "new-name-token-0123456")
    assert client_token() == "new-name-token-0123456"
    assert not capsys.readouterr().err


def test_profile_keys_agent_and_agents_are_read_as_server_and_servers(tmp_path, capsys):
    from edgeprune.latency.profiles import load_profile

    one = tmp_path / "one.yaml"
    one.write_text("backend: ort-cpu\nagent: http://10.0.0.1:8650\n")
    assert load_profile(one).server == "http://10.0.0.1:8650"
    assert f"{one}:2: the profile key `agent` is deprecated" in capsys.readouterr().err
    pool = tmp_path / "pool.yaml"
    pool.write_text("servers: [http://a:1, http://b:2]\n")
    assert load_profile(pool).servers == ("http://a:1", "http://b:2")
    assert not capsys.readouterr().err
    pool.write_text("agents: [http://a:1, http://b:2]\n")
    assert [m.server for m in load_profile(pool).members()] == ["http://a:1", "http://b:2"]
    assert "`agents` is deprecated" in capsys.readouterr().err
    pool.write_text("agents: [http://a:1]\nservers: [http://b:2]\n")
    with pytest.raises(EdgepruneError, match="give `servers` only"):
        load_profile(pool)


def test_one_input_size_form_everywhere():
    free, square = ImageSize(), ImageSize(square=True)
    assert free.convert("320", None, None) == (320, 320)
    assert free.convert("640x480", None, None) == (480, 640)
    assert square.convert("320", None, None) == 320 == square.convert("320x320", None, None)
    with pytest.raises(click.BadParameter, match="square"):
        square.convert("640x480", None, None)
    with pytest.raises(click.BadParameter, match="multiples of 32"):
        free.convert("100", None, None)
    result = run("train", "--data", "d.yaml", "--imgsz", "640x480")
    assert result.exit_code == 2 and "square" in result.output
