"""The ROS 2 detector node on loopback: real images in, detections out with the input's stamp.

The node and the probe run in .venv-ros (the ROS 2 wheels must not share .venv, see README);
`make test` creates it. Both processes are ended by this test.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from edgeprune.data.images import read_image
from edgeprune.deploy import deployment_files, load_robot
from edgeprune.export.onnx import export_onnx
from edgeprune.models import create
from edgeprune.runtime.detector import Detector
from tests.helpers import randomize_weights

REPO = Path(__file__).resolve().parents[2]
ROS_PYTHON = REPO / ".venv-ros" / "bin" / "python"
PROBE = Path(__file__).with_name("ros_probe.py")

pytestmark = pytest.mark.skipif(not ROS_PYTHON.exists(),
                                reason=".venv-ros is missing: `make ros-venv` (make test runs it)")


def ros_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = str(random.randint(100, 200))  # apart from other test runs
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.stdout.read() if process.stdout else ""


@pytest.fixture
def tiny_onnx(tmp_path):
    model = randomize_weights(create("yolov3-tiny", num_classes=3, width=0.25), seed=2)
    path = tmp_path / "tiny.onnx"
    export_onnx(model, path, (128, 128), ["truck", "bus", "car"])
    return path


def test_detections_arrive_with_the_input_stamp_and_survive_bad_messages(
        tmp_path, tiny_onnx, shared_datasets):
    images = sorted((shared_datasets / "ucsd-sample" / "JPEGImages").glob("*.jpg"))[:3]
    local = []
    for image in images:
        local.append(tmp_path / image.name)
        shutil.copy(image, local[-1])
    env = ros_env()
    # the node runs from the params file `edgeprune deploy` writes for a robot profile
    robot = tmp_path / "test-robot.yaml"
    robot.write_text(f"device: cpu\nmodel: {tiny_onnx}\ncamera_topic: /test/image\n"
                     f"conf_threshold: 0.3\nqos_reliability: reliable\nimgsz: 128\n")
    params = tmp_path / "test-robot.params.yaml"
    params.write_text(deployment_files(load_robot(robot))[params.name])
    node = subprocess.Popen(
        [str(ROS_PYTHON), "-m", "edgeprune_ros.detector_node", "--ros-args",
         "--params-file", str(params), "-p", "fallback_topic:=/test/detections_json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        probe = subprocess.run(
            [str(ROS_PYTHON), str(PROBE), "--input-topic", "/test/image",
             "--output-topic", "/test/detections_json", "--timeout", "60",
             "--images", *map(str, local)],
            env=env, capture_output=True, text=True, timeout=120)
    finally:
        node_log = stop(node)
    assert probe.returncode == 0, probe.stderr + node_log
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["connected"], node_log
    responses = result["responses"]
    assert set(responses) == {"1000", "1001", "1002", "3000"}, node_log
    for sec, response in responses.items():
        assert response["header"]["stamp"] == {"sec": int(sec), "nanosec": 0}
        assert response["header"]["frame_id"] == "camera_optical"
        assert response["seconds"] < 5
    detections = [d for r in responses.values() for d in r["detections"]]
    assert detections, "the decisive random model detects something on real images"
    for detection in detections:
        assert detection["class_name"] in {"truck", "bus", "car"}
        assert detection["score"] >= 0.3
        bbox = detection["bbox"]
        assert 0 <= bbox["center_x"] <= 320 and 0 <= bbox["center_y"] <= 240
    # what the node publishes is the Detector's output on the same pixels (1001 came as rgb8;
    # 3000 is image 0 again, after the malformed message)
    detector = Detector(tiny_onnx, conf_threshold=0.3, max_detections=100)
    for sec, index in (("1000", 0), ("1001", 1), ("3000", 0)):
        expected = detector(read_image(local[index]))[0]
        got = responses[sec]["detections"]
        assert [d["class_name"] for d in got] == [detector.names[c] for c in expected.class_ids]
        assert [d["score"] for d in got] == pytest.approx(expected.scores.tolist(), abs=1e-5)
        centres = [v for d in got for v in (d["bbox"]["center_x"], d["bbox"]["center_y"])]
        assert centres == pytest.approx(((expected.boxes[:, :2] + expected.boxes[:, 2:]) / 2)
                                        .ravel().tolist(), abs=1e-3)
    assert "2000" not in responses  # the malformed image was skipped ...
    assert "skipping image" in node_log  # ... with a warning, and the node kept serving
    assert "vision_msgs is not installed" in node_log


def test_node_refuses_a_missing_model_with_one_line(tmp_path):
    result = subprocess.run(
        [str(ROS_PYTHON), "-m", "edgeprune_ros.detector_node", "--ros-args",
         "-p", f"model_path:={tmp_path / 'missing.onnx'}"],
        env=ros_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "missing.onnx" in result.stderr and "Traceback" not in result.stderr
