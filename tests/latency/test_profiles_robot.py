"""Robot profiles: the shipped ones load and agree with their devices, one is also a
`--device`, and bad fields are errors naming the file and line (also through `edgeprune
deploy`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.latency.profiles import load_robot, resolve_profile


def test_shipped_robot_profiles_load_and_agree_with_their_devices():
    infantry = load_robot("robomaster-infantry")
    assert infantry.device_profile.name == "jetson-orin-nano"
    assert infantry.runtime == "tensorrt" and infantry.precision == "fp16"
    assert infantry.imgsz == (416, 416) and infantry.camera == (1280, 1024)  # inherited
    assert infantry.latency_budget_ms == 12.0  # tighter than the board's 15 ms
    assert infantry.run_path == "/opt/edgeprune/models/infantry-final.engine"
    sentry = load_robot("robomaster-sentry-int8")
    assert sentry.precision == "int8" and sentry.calib == "calib/arena"
    # a robot profile is also a --device: the board's setup, the robot's budget and precision
    as_device = resolve_profile("robomaster-infantry")
    assert as_device.backend == "tensorrt" and as_device.server is not None
    assert as_device.latency_budget_ms == 12.0 and as_device.precision == "fp16"


@pytest.mark.parametrize("text, message", [
    ("device: cpu\nmodel: m.onnx\nconf_treshold: 0.3\n", ":3: unknown field 'conf_treshold'"),
    ("device: cpu\nmodel: m.onnx\nconf_threshold: high\n", ":3: conf_threshold: expected a "
     "number"),
    ("device: cpu\nmodel: m.onnx\ncamera_topic: camera\n", ":3: camera_topic: expected an "
     "absolute topic"),
    ("device: cpu\nmodel: m.onnx\nimgsz: 500\n", ":3: imgsz: input size 500x500"),
    ("model: m.onnx\ndevice: cpu\nruntime: tensorrt\n", ":3: a TensorRT engine, but the device "
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


def test_the_last_releases_backend_key_reads_as_runtime_with_a_warning(tmp_path, capsys):
    path = tmp_path / "robot.yaml"
    path.write_text("device: cpu\nmodel: m.onnx\nbackend: torch\n")
    robot = load_robot(path)
    assert robot.runtime == "torch" and robot.run_path == robot.model_path
    assert (f"{path}:3: the robot profile key `backend` is deprecated"
            in capsys.readouterr().err)
    path.write_text("device: cpu\nmodel: m.onnx\nbackend: torch\nruntime: onnxruntime\n")
    with pytest.raises(EdgepruneError, match=r"robot.yaml:3: `backend` is the old name of "
                                             r"`runtime`; give `runtime` only"):
        load_robot(path)
    path.write_text("device: cpu\nmodel: m.onnx\nbackend: tensorrt\n")
    with pytest.raises(EdgepruneError, match=r"robot.yaml:3: a TensorRT engine"):  # old line
        load_robot(path)
