"""`edgeprune deploy`: the files a robot profile produces and the container that reads them.
Reading robot profiles is tests/latency/test_profiles_robot.py."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.deploy import deployment_files, load_robot, node_parameters

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


def test_params_file_matches_the_node_and_commands_fit_together(tmp_path):
    robot = load_robot("robomaster-infantry")
    parameters = node_parameters(robot)
    assert set(parameters) <= node_parameter_names()
    assert parameters["model_path"] == robot.engine_path and parameters["runtime"] == "tensorrt"
    assert parameters["input_topic"] == "/camera/image_raw"
    files = deployment_files(robot)
    params = yaml.safe_load(files["robomaster-infantry.params.yaml"])
    assert params["edgeprune_detector"]["ros__parameters"]["conf_threshold"] == 0.35
    native = files["run-native.sh"]
    assert "--format engine" in native and "--precision fp16" in native
    assert "--skip-if-current" in native
    assert "ros2 launch edgeprune_ros detector.launch.py" in native
    docker = shlex.split(files["docker-run.sh"].splitlines()[-1])
    assert "EDGEPRUNE_ENGINE=/opt/edgeprune/models/infantry-final.engine" in docker
    assert "/opt/edgeprune/models:/opt/edgeprune/models" in docker
    unit = files["edgeprune-robomaster-infantry.service"]
    assert "Restart=always" in unit and "ExecStart=/usr/bin/docker run" in unit

    run = CliRunner().invoke(main, ["deploy", "--robot", "robomaster-sentry-int8",
                                    "--write", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    assert "--precision int8 --calib /opt/edgeprune/models/calib/arena" in run.output
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"robomaster-sentry-int8.params.yaml", "run-native.sh", "docker-run.sh",
                       "edgeprune-robomaster-sentry-int8.service"}
    assert (tmp_path / "out" / "run-native.sh").stat().st_mode & 0o111
    listing = CliRunner().invoke(main, ["deploy"])
    assert "robomaster-infantry" in listing.output and "robomaster-sentry-int8" in listing.output
    assert "jetson-xavier-nx.yaml" not in listing.output  # device profiles are not robots


def test_container_entrypoint_reads_what_deploy_passes():
    from edgeprune.deploy.files import container_environment

    entrypoint = REPO / "deploy" / "jetson" / "entrypoint.sh"
    checked = subprocess.run(["bash", "-n", str(entrypoint)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    text = entrypoint.read_text()
    for variable in container_environment(load_robot("robomaster-sentry-int8")):
        assert f"${{{variable}" in text, variable
    assert "--skip-if-current" in text and "exec ros2 run edgeprune_ros detector_node" in text
