"""The ROS 1 adapter against a real roscore (Debian's ros-core and python3-rospy).

Those come from apt, not pip, so this test runs only where the system python3 has rospy (it
skips elsewhere, saying so); the pipeline both nodes share is tested in test_node_pipeline.py
without any ROS. The node runs with the system python3 and edgeprune from .venv on its path.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from edgeprune.data.images import read_image
from edgeprune.export.onnx import export_onnx
from edgeprune.models import create
from edgeprune.runtime.detector import Detector
from tests.helpers import randomize_weights

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
PROBE = Path(__file__).with_name("ros1_probe.py")


def system_rospy() -> bool:
    if not SYSTEM_PYTHON.exists() or shutil.which("roscore") is None:
        return False
    found = subprocess.run([str(SYSTEM_PYTHON), "-c", "import rospy, sensor_msgs.msg, sys; "
                            "print(sys.version_info[:2])"], capture_output=True, text=True)
    # .venv's compiled packages must fit the system python's minor version
    return found.returncode == 0 and found.stdout.strip() == str(sys.version_info[:2])


pytestmark = pytest.mark.skipif(not system_rospy(), reason="no ROS 1 here (Debian: apt-get "
                                "install ros-core python3-rospy python3-sensor-msgs "
                                "python3-std-msgs, for the same Python minor version as .venv)")


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.stdout.read() if process.stdout else ""


def test_ros1_adapter_publishes_detections_with_the_input_stamp(tmp_path, shared_datasets):
    model = randomize_weights(create("yolov3-tiny", num_classes=3, width=0.25), seed=2)
    onnx_path = tmp_path / "tiny.onnx"
    export_onnx(model, onnx_path, (128, 128), ["truck", "bus", "car"])
    image = tmp_path / "frame.jpg"
    shutil.copy(sorted((shared_datasets / "ucsd-sample" / "JPEGImages").glob("*.jpg"))[0], image)
    port = random.randint(20000, 40000)
    env = dict(os.environ, ROS_MASTER_URI=f"http://127.0.0.1:{port}", ROS_IP="127.0.0.1",
               ROS_HOME=str(tmp_path / "ros_home"), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([sysconfig.get_paths()["purelib"], str(REPO),
                                           str(REPO / "deploy" / "ros2" / "edgeprune_ros")]))
    master = subprocess.Popen(["roscore", "-p", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    node = None
    try:
        time.sleep(3)
        node = subprocess.Popen(
            [str(SYSTEM_PYTHON), "-m", "edgeprune_ros.ros1_node", f"_model_path:={onnx_path}",
             "_input_topic:=/test/image", "_fallback_topic:=/test/detections_json",
             "_conf_threshold:=0.3"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        probe = subprocess.run([str(SYSTEM_PYTHON), str(PROBE), "--image", str(image)],
                               env=env, capture_output=True, text=True, timeout=120)
    finally:
        node_log = stop(node) if node else ""
        os.killpg(master.pid, signal.SIGINT)
        master.wait(timeout=20)
    assert probe.returncode == 0, probe.stderr + node_log
    responses = json.loads(probe.stdout.strip().splitlines()[-1])
    assert set(responses) == {"1000", "3000"}, node_log  # the malformed one was skipped
    detector = Detector(onnx_path, conf_threshold=0.3, max_detections=100)
    expected = detector(read_image(image))[0]
    for sec, response in responses.items():
        assert response["header"]["stamp"] == {"sec": int(sec), "nanosec": 0}
        assert response["header"]["frame_id"] == "camera_optical"
        assert [d["class_id"] for d in response["detections"]] == expected.class_ids.tolist()
    assert len(expected) > 0
    assert "skipping image" in node_log and "vision_msgs is not installed" in node_log
