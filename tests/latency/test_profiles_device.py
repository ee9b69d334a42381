from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.latency import load_profile, resolve_device, resolve_profile
from edgeprune.latency.device import cpu_name, jetson_board, jetson_power_mode
from edgeprune.latency.profiles import shipped_profiles_dir

NVPMODEL_CONF = """
< POWER_MODEL ID=0 NAME=MODE_15W_2CORE >
CPU_ONLINE CORE_0 1
< POWER_MODEL ID=2 NAME=MODE_15W_6CORE >
CPU_ONLINE CORE_0 1
< PM_CONFIG DEFAULT=2 >
"""


@pytest.mark.parametrize("name", ["cpu", "jetson-nano", "jetson-xavier-nx", "jetson-orin-nano"])
def test_shipped_profiles_load(name):
    profile = resolve_profile(name)
    assert profile.name == name and Path(profile.source).parent == shipped_profiles_dir()
    if name.startswith("jetson"):
        assert profile.backend == "tensorrt" and profile.server.startswith("http://")
        assert profile.latency_budget_ms > 0 and profile.imgsz == (416, 416)
        assert profile.precision == "fp16"
    else:
        assert profile.backend == "ort-cpu" and profile.server is None


def test_unknown_fields_and_bad_values_name_the_file_and_line(tmp_path):
    path = tmp_path / "robot.yaml"
    path.write_text("name: r\nbackend: ort-cpu\nlatency_budget: 30\n")
    with pytest.raises(EdgepruneError, match=r"robot\.yaml:3: unknown field 'latency_budget'"):
        load_profile(path)
    path.write_text("name: r\nprecision: fp8\n")
    with pytest.raises(EdgepruneError, match=r"robot\.yaml:2: precision: precision 'fp8'"):
        load_profile(path)
    path.write_text("name: r\nthreads: two\n")
    with pytest.raises(EdgepruneError, match=r"robot\.yaml:2: threads: expected int"):
        load_profile(path)
    path.write_text("name: r\nbackend: tensorrt\nprotocol:\n  max_run: 3\n")
    with pytest.raises(EdgepruneError, match=r"robot\.yaml:3: .*unknown protocol field"):
        load_profile(path)
    path.write_text("name: r\nbackend: tpu\n")
    with pytest.raises(EdgepruneError,
                       match=r"robot\.yaml:2: backend: unknown latency backend 'tpu'"):
        load_profile(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(EdgepruneError, match=r"robot\.yaml:\d+: not valid YAML"):
        load_profile(path)


def test_device_spec_forms(tmp_path, monkeypatch):
    url = resolve_profile("http://127.0.0.1:9000")
    assert url.backend == "remote" and url.server == "http://127.0.0.1:9000"
    assert resolve_profile("http://robot").server == "http://robot:8650"
    custom = tmp_path / "mine.yaml"
    custom.write_text("backend: ort-cpu\nthreads: 1\nimgsz: 320x256\nlatency_budget_ms: 12\n"
                      "protocol: {max_runs: 40}\n")
    profile = resolve_profile(str(custom))
    assert profile.name == "mine" and profile.imgsz == (256, 320)
    meter = resolve_device(str(custom), cache=False)
    assert meter.protocol.max_runs == 40 and meter.backend.threads == 1
    assert meter.latency_budget_ms == 12 and meter.imgsz == (256, 320)
    with pytest.raises(EdgepruneError, match="no device profile 'tpu-board'.*available: .*cpu"):
        resolve_profile("tpu-board")


def test_profile_folder_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "lab-pc.yaml").write_text("backend: ort-cpu\nthreads: 1\n")
    monkeypatch.setenv("EDGEPRUNE_ROBOTS", str(tmp_path))
    assert resolve_profile("lab-pc").threads == 1


def test_jetson_profile_resolves_to_its_agent_without_contacting_it():
    meter = resolve_device("jetson-nano", token="t", cache=False)
    assert meter.backend.name == "remote" and meter.backend.expect_backend == "tensorrt"
    assert meter.precision == "fp16" and meter.protocol.max_seconds == 30
    with pytest.raises(EdgepruneError, match="needs its token"):
        resolve_device("jetson-nano", cache=False)


def test_cpu_name_and_jetson_power_mode_from_files(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Core(TM)  i7-8559U CPU\n")
    assert cpu_name(cpuinfo) == "Intel(R) Core(TM) i7-8559U CPU"
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Xavier NX Developer Kit\x00")
    assert jetson_board(model) == "NVIDIA Jetson Xavier NX Developer Kit"
    conf, status = tmp_path / "nvpmodel.conf", tmp_path / "status"
    conf.write_text(NVPMODEL_CONF)
    assert jetson_power_mode(conf, status, query=False) == "MODE_15W_6CORE"  # the default
    status.write_text("pmode:0000 fmode:quiet\n")
    assert jetson_power_mode(conf, status, query=False) == "MODE_15W_2CORE"
    assert jetson_power_mode(tmp_path / "none.conf", status, query=False) is None
