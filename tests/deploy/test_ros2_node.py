"""The ROS 2 detector node on loopback: real images in, vision_msgs/Detection2DArray out (the
JSON fallback where vision_msgs is absent), with the input's header and the Detector's boxes.

The node and the probe run in .venv-ros (the ROS 2 wheels must not share .venv, see README);
`make test` creates it and builds vision_msgs into it (deploy/ros2/vision_msgs_interfaces).
Both processes are ended by this test.
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
from edgeprune.models import create
from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.detector import Detector
from tests.helpers import randomize_weights

REPO = Path(__file__).resolve().parents[2]
ROS_PYTHON = REPO / ".venv-ros" / "bin" / "python"
VISION_MSGS = REPO / ".venv-ros" / "share" / "vision_msgs" / "msg"
SHIPPED_PARAMS = REPO / "deploy" / "ros2" / "edgeprune_ros" / "config" / "detector.params.yaml"
PROBE = Path(__file__).with_name("ros_probe.py")
# The type description hashes of upstream vision_msgs (ros-perception/vision_msgs, branch ros2,
# 4.1.1) for the same std_msgs/geometry_msgs: computed from its .msg files by
# deploy/ros2/vision_msgs_interfaces/type_hashes.py, and equal to those in a published build
# of it (see that folder's README).
UPSTREAM_HASHES = {
    "BoundingBox2D": "RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "Detection2D": "RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "Detection2DArray":
        "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "ObjectHypothesis":
        "RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "ObjectHypothesisWithPose":
        "RIHS01_41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
    "Point2D": "RIHS01_eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "Pose2D": "RIHS01_b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
}
# The node as where vision_msgs is not installed: an import of it fails as it does there.
WITHOUT_VISION_MSGS = ("import sys; sys.modules['vision_msgs'] = None\n"
                       "from edgeprune_ros.detector_node import main; sys.exit(main())")

pytestmark = pytest.mark.skipif(not ROS_PYTHON.exists(),
                                reason=".venv-ros is missing: `make ros-venv` (make test runs it)")
needs_vision_msgs = pytest.mark.skipif(
    not (VISION_MSGS / "Detection2DArray.json").exists(),
    reason="vision_msgs is not built into .venv-ros: `make ros-venv` builds it where there is a "
           "C compiler (make test runs it)")


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


def run_node_and_probe(node_command: list[str], probe_args: list[str]) -> tuple[dict, str]:
    """Start the node, run the probe against it, stop the node: (probe result, node log)."""
    env = ros_env()
    node = subprocess.Popen(node_command, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        probe = subprocess.run([str(ROS_PYTHON), str(PROBE), "--timeout", "60", *probe_args],
                               env=env, capture_output=True, text=True, timeout=120)
    finally:
        node_log = stop(node)
    assert probe.returncode == 0, probe.stderr + node_log
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["connected"], node_log
    return result, node_log


def local_images(shared_datasets: Path, tmp_path: Path, count: int) -> list[Path]:
    images = sorted((shared_datasets / "ucsd-sample" / "JPEGImages").glob("*.jpg"))[:count]
    for image in images:
        shutil.copy(image, tmp_path / image.name)
    return [tmp_path / image.name for image in images]


@pytest.fixture
def tiny_onnx(tmp_path):
    model = randomize_weights(create("yolov3-tiny", num_classes=3, width=0.25), seed=2)
    path = tmp_path / "tiny.onnx"
    export_onnx(model, path, (128, 128), ["truck", "bus", "car"])
    return path


def check_latency(latency: dict, response: dict) -> None:
    """The node's own account of a frame fits what the probe saw from outside."""
    assert latency["header"] == response["header"]
    (status,) = latency["status"]
    assert status["name"] == "edgeprune_detector: frame latency" and status["level"] == 0
    times = {pair["key"]: float(pair["value"]) for pair in status["values"]}
    # publish -> detections published, inside the probe's publish -> detections received
    assert 0 < times["detector_ms"] <= times["in_node_ms"] <= times["publish_to_detections_ms"]
    assert times["publish_to_detections_ms"] <= response["seconds"] * 1000 + 1
    assert times["transport_ms"] == pytest.approx(
        times["publish_to_detections_ms"] - times["in_node_ms"], abs=0.01)


@needs_vision_msgs
def test_node_publishes_detection2darray_with_the_input_header_and_the_detectors_boxes(
        tmp_path, tiny_onnx, shared_datasets):
    images = local_images(shared_datasets, tmp_path, 3)
    # the node runs from the params file `edgeprune deploy` writes for a robot profile
    robot = tmp_path / "test-robot.yaml"
    robot.write_text(f"device: cpu\nmodel: {tiny_onnx}\ncamera_topic: /test/image\n"
                     f"conf_threshold: 0.3\nqos_reliability: reliable\nimgsz: 128\n")
    params = tmp_path / "test-robot.params.yaml"
    params.write_text(deployment_files(load_robot(robot))[params.name])
    result, node_log = run_node_and_probe(
        [str(ROS_PYTHON), "-m", "edgeprune_ros.detector_node", "--ros-args",
         "--params-file", str(params)],
        ["--input-topic", "/test/image", "--output-topic", "/detections",
         "--latency-topic", "/detections_latency", "--malformed",
         "--images", *map(str, images)])
    assert result["publishers"] == [{"type": "vision_msgs/msg/Detection2DArray",
                                     "type_hash": UPSTREAM_HASHES["Detection2DArray"]}]
    responses = result["responses"]
    assert set(responses) == {"1000", "1001", "1002", "3000"}, node_log
    # what the node publishes is the Detector's output on the same pixels (1001 came as rgb8,
    # 1002 as mono8; 3000 is image 0 again, after the malformed message)
    detector = Detector(tiny_onnx, conf_threshold=0.3, max_detections=100)
    names = set()
    for sec, index in (("1000", 0), ("1001", 1), ("3000", 0)):
        response = responses[sec]
        assert response["header"] == {"stamp": {"sec": int(sec), "nanosec": 0},
                                      "frame_id": "camera_optical"}
        expected = detector(read_image(images[index]))[0]
        detections = response["detections"]
        assert len(detections) == len(expected) > 0
        for detection, box, score, class_id in zip(detections, expected.boxes, expected.scores,
                                                   expected.class_ids, strict=True):
            assert detection["header"] == response["header"] and detection["id"] == ""
            (result_,) = detection["results"]
            assert result_["hypothesis"]["class_id"] == detector.names[class_id]
            assert result_["hypothesis"]["score"] == pytest.approx(float(score), abs=1e-5)
            bbox = detection["bbox"]
            x1, y1, x2, y2 = box.tolist()
            assert (bbox["center"]["position"]["x"], bbox["center"]["position"]["y"],
                    bbox["size_x"], bbox["size_y"]) == pytest.approx(
                ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), abs=1e-3)
            assert bbox["center"]["theta"] == 0
            names.add(result_["hypothesis"]["class_id"])
        scores = [d["results"][0]["hypothesis"]["score"] for d in detections]
        assert scores == sorted(scores, reverse=True)
    assert responses["1002"]["header"]["stamp"]["sec"] == 1002  # mono8 is served too
    assert names <= {"truck", "bus", "car"}
    assert set(result["latency"]) == set(responses)
    for sec, response in responses.items():
        assert response["seconds"] < 5
        check_latency(result["latency"][sec], response)
    assert "2000" not in responses  # the malformed image was skipped ...
    assert "skipping image" in node_log  # ... with a warning, and the node kept serving
    assert "vision_msgs is not installed" not in node_log


@needs_vision_msgs
def test_vision_msgs_built_here_has_the_upstream_type_hashes():
    built = {}
    for name in UPSTREAM_HASHES:
        description = json.loads((VISION_MSGS / f"{name}.json").read_text())
        built[name] = next(entry["hash_string"] for entry in description["type_hashes"]
                           if entry["type_name"] == f"vision_msgs/msg/{name}")
    assert built == UPSTREAM_HASHES


def test_json_fallback_where_vision_msgs_is_absent_from_the_shipped_params_file(
        tmp_path, tiny_onnx, shared_datasets):
    (image,) = local_images(shared_datasets, tmp_path, 1)
    # The shipped file as it is, but for the model (it has none) and reliable delivery: best
    # effort may drop a 230 KB frame's fragments on a loaded machine.
    result, node_log = run_node_and_probe(
        [str(ROS_PYTHON), "-c", WITHOUT_VISION_MSGS, "--ros-args",
         "--params-file", str(SHIPPED_PARAMS), "-p", f"model_path:={tiny_onnx}",
         "-p", "qos_reliability:=reliable", "-p", "backend:=onnxruntime"],
        ["--json", "--input-topic", "/image", "--output-topic", "/detections_json",
         "--latency-topic", "/detections_latency", "--images", str(image)])
    assert "vision_msgs is not installed" in node_log
    # a launch line of the last release (backend:=) still runs, with a deprecation warning
    assert "parameter backend is deprecated" in node_log and "use runtime" in node_log
    assert [p["type"] for p in result["publishers"]] == ["std_msgs/msg/String"]
    response = result["responses"]["1000"]
    assert response["header"] == {"stamp": {"sec": 1000, "nanosec": 0},
                                  "frame_id": "camera_optical"}
    expected = Detector(tiny_onnx, conf_threshold=0.25, max_detections=100)(read_image(image))[0]
    got = response["detections"]
    assert [d["class_id"] for d in got] == expected.class_ids.tolist() != []
    assert [d["class_name"] for d in got] == [["truck", "bus", "car"][c]
                                              for c in expected.class_ids]
    assert [d["score"] for d in got] == pytest.approx(expected.scores.tolist(), abs=1e-5)
    sizes = [v for d in got for v in (d["bbox"]["size_x"], d["bbox"]["size_y"])]
    assert sizes == pytest.approx((expected.boxes[:, 2:] - expected.boxes[:, :2]).ravel()
                                  .tolist(), abs=1e-3)
    check_latency(result["latency"]["1000"], response)


def test_node_refuses_a_missing_model_with_one_line(tmp_path):
    result = subprocess.run(
        [str(ROS_PYTHON), "-m", "edgeprune_ros.detector_node", "--ros-args",
         "-p", f"model_path:={tmp_path / 'missing.onnx'}"],
        env=ros_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "missing.onnx" in result.stderr and "Traceback" not in result.stderr


def test_node_refuses_the_old_and_new_name_set_differently(tiny_onnx):
    result = subprocess.run(
        [str(ROS_PYTHON), "-m", "edgeprune_ros.detector_node", "--ros-args",
         "-p", f"model_path:={tiny_onnx}", "-p", "backend:=torch",
         "-p", "runtime:=onnxruntime"],
        env=ros_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "backend (the old name of runtime) and runtime are both set" in result.stderr
    assert "Traceback" not in result.stderr
