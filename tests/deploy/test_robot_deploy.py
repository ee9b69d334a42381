"""Robot profiles and `edgeprune deploy`: the shipped profiles, the generated files, and errors
that name the file and line."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.deploy import deployment_files, load_robot, node_parameters
from edgeprune.errors import EdgepruneError
from edgeprune.latency.profiles import resolve_profile

REPO = Path(__file__).resolve().parents[2]
NODE_PACKAGE = REPO / "deploy" / "ros2" / "edgeprune_ros"


def node_parameter_names() -> set[str]:
    """The node's declared parameters (params.py imports no ROS library)."""
    sys.path.insert(0, str(NODE_PACKAGE))
    try:
        from edgeprune_ros.params import PARAMETERS
    finally:
        sys.path.remove(str(NODE_PACKAGE))
    return set(PARAMETERS)


def test_shipped_robot_profiles_load_and_agree_with_their_devices():
    infantry = load_robot("robomaster-infantry")
    assert infantry.device_profile.name == "jetson-orin-nano"
    assert infantry.backend == "tensorrt" and infantry.precision == "fp16"
    assert infantry.imgsz == (416, 416) and infantry.camera == (1280, 1024)  # inherited
    assert infantry.latency_budget_ms == 12.0  # tighter than the board's 15 ms
    assert infantry.run_path == "/opt/edgeprune/models/infantry-final.engine"
    sentry = load_robot("robomaster-sentry-int8")
    assert sentry.precision == "int8" and sentry.calib == "calib/arena"
    # a robot profile is also a --device: the board's setup, the robot's budget and precision
    as_device = resolve_profile("robomaster-infantry")
    assert as_device.backend == "tensorrt" and as_device.server is not None
    assert as_device.latency_budget_ms == 12.0 and as_device.precision == "fp16"


def test_params_file_matches_the_node_and_commands_fit_together(tmp_path):
    robot = load_robot("robomaster-infantry")
    parameters = node_parameters(robot)
    assert set(parameters) <= node_parameter_names()
    assert parameters["model_path"] == robot.engine_path and parameters["backend"] == "tensorrt"
    assert parameters["input_topic"] == "/camera/image_raw"
    files = deployment_files(robot)
    params = yaml.safe_load(files["robomaster-infantry.params.yaml"])
    assert params["edgeprune_detector"]["ros__parameters"]["conf_threshold"] == 0.35
    native = files["run-native.sh"]
    assert "--format engine" in native and "--half" in native and "--skip-if-current" in native
    assert "ros2 launch edgeprune_ros detector.launch.py" in native
    docker = shlex.split(files["docker-run.sh"].splitlines()[-1])
    assert "EDGEPRUNE_ENGINE=/opt/edgeprune/models/infantry-final.engine" in docker
    assert "/opt/edgeprune/models:/opt/edgeprune/models" in docker
    unit = files["edgeprune-robomaster-infantry.service"]
    assert "Restart=always" in unit and "ExecStart=/usr/bin/docker run" in unit

    run = CliRunner().invoke(main, ["deploy", "--robot", "robomaster-sentry-int8",
                                    "--write", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    assert "--int8 --calib /opt/edgeprune/models/calib/arena" in run.output
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"robomaster-sentry-int8.params.yaml", "run-native.sh", "docker-run.sh",
                       "edgeprune-robomaster-sentry-int8.service"}
    assert (tmp_path / "out" / "run-native.sh").stat().st_mode & 0o111
    listing = CliRunner().invoke(main, ["deploy"])
    assert "robomaster-infantry" in listing.output and "robomaster-sentry-int8" in listing.output
    assert "jetson-xavier-nx.yaml" not in listing.output  # device profiles are not robots


@pytest.mark.parametrize("text, message", [
    ("device: cpu\nmodel: m.onnx\nconf_treshold: 0.3\n", ":3: unknown field 'conf_treshold'"),
    ("device: cpu\nmodel: m.onnx\nconf_threshold: high\n", ":3: conf_threshold: expected a "
     "number"),
    ("device: cpu\nmodel: m.onnx\ncamera_topic: camera\n", ":3: camera_topic: expected an "
     "absolute topic"),
    ("device: cpu\nmodel: m.onnx\nimgsz: 500\n", ":3: imgsz: input size 500x500"),
    ("model: m.onnx\ndevice: cpu\nbackend: tensorrt\n", ":3: a TensorRT engine, but the device "
     "profile"),
    ("device: cpu\nmodel: m.onnx\nprecision: fp16\n", ":3: fp16 is deployed as a TensorRT"),
    ("device: jetson-nano\nmodel: m.onnx\nprecision: int8\n", ":3: int8 engines need `calib:`"),
    ("device: no-such-board\nmodel: m.onnx\n", "no device profile 'no-such-board'"),
    ("device: cpu\n", "needs `model:`"),
])
def test_bad_robot_profiles_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "robot.yaml"
    path.write_text(text)
    with pytest.raises(EdgepruneError, match=None) as error:
        load_robot(path)
    assert str(path) in str(error.value) or "no-such-board" in message
    assert message in str(error.value)
    run = CliRunner().invoke(main, ["deploy", "--robot", str(path)])
    assert run.exit_code == 1 and "Traceback" not in run.output


def test_a_device_profile_is_not_a_robot(tmp_path):
    with pytest.raises(EdgepruneError, match="jetson-nano.yaml: not a robot profile"):
        load_robot("jetson-nano")


def test_container_entrypoint_reads_what_deploy_passes():
    from edgeprune.deploy.files import container_environment

    entrypoint = REPO / "deploy" / "jetson" / "entrypoint.sh"
    checked = subprocess.run(["bash", "-n", str(entrypoint)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = entrypoint.read_text()
    for variable in container_environment(load_robot("robomaster-sentry-int8")):
        assert f"${{{variable}" in text, variable
    assert "--skip-if-current" in text and "exec ros2 run edgeprune_ros detector_node" in text
