"""The ROS 1 adapter against a real roscore (Debian's ros-core and python3-rospy), publishing
vision_msgs/Detection2DArray in the ROS 1 (Noetic) layout, generated here with genpy from
deploy/ros1/vision_msgs (Debian has no vision_msgs).

Those come from apt, not pip: `make test` installs them where it runs as root with apt-get
(CI); elsewhere this test skips and names what is missing. The node runs with the system
python3 and edgeprune from .venv on its path.
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
from edgeprune.models import create
from edgeprune.onnxio.serialize import export_onnx
from edgeprune.runtime.detector import Detector
from tests.helpers import randomize_weights

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
PROBE = Path(__file__).with_name("ros1_probe.py")
GENERATE = REPO / "deploy" / "ros1" / "vision_msgs" / "generate.py"
# md5sums of upstream vision_msgs for ROS 1 (ros-perception/vision_msgs, noetic-devel), as
# genpy computes them from its .msg files and as published message libraries record them.
UPSTREAM_MD5 = {"Detection2DArray": "402071f61477de256df9f1aa45e6e4c8",
                "Detection2D": "9e11092151fa150724a255fbac727f3b",
                "ObjectHypothesisWithPose": "fa1ab3bc7146f53921fa142d631d02db",
                "BoundingBox2D": "9ab41e2a4c8627735e5091a9abd68b02"}
INSTALL = ("apt-get install ros-core python3-rospy python3-genpy python3-sensor-msgs "
           "python3-geometry-msgs ros-sensor-msgs ros-geometry-msgs (`make test` does, as root)")


def missing_ros1() -> str | None:
    """Why the ROS 1 test cannot run here, or None."""
    if not SYSTEM_PYTHON.exists() or shutil.which("roscore") is None:
        return f"no ROS 1 here (no roscore): {INSTALL}"
    found = subprocess.run([str(SYSTEM_PYTHON), "-c", "import rospy, genpy, sensor_msgs.msg, "
                            "geometry_msgs.msg, sys; print(sys.version_info[:2])"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        return f"{SYSTEM_PYTHON} lacks a ROS 1 module ({found.stderr.strip().splitlines()[-1]}): "\
               f"{INSTALL}"
    if found.stdout.strip() != str(sys.version_info[:2]):  # .venv's compiled packages must fit
        return (f"{SYSTEM_PYTHON} is Python {found.stdout.strip()}, .venv is "
                f"{sys.version_info[:2]}: ROS 1's python must be the same minor version")
    return None


MISSING = missing_ros1()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture
def ros1_vision_msgs(tmp_path) -> Path:
    """A folder with the genpy-generated vision_msgs package (what goes on PYTHONPATH)."""
    folder = tmp_path / "ros1_msgs"
    generated = subprocess.run([str(SYSTEM_PYTHON), str(GENERATE), str(folder)],
                               capture_output=True, text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    return folder


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.stdout.read() if process.stdout else ""


def test_ros1_adapter_publishes_detection2darray_with_the_input_header(
        tmp_path, shared_datasets, ros1_vision_msgs):
    model = randomize_weights(create("yolov3-tiny", num_classes=3, width=0.25), seed=2)
    onnx_path = tmp_path / "tiny.onnx"
    export_onnx(model, onnx_path, (128, 128), ["truck", "bus", "car"])
    image = tmp_path / "frame.jpg"
    shutil.copy(sorted((shared_datasets / "ucsd-sample" / "JPEGImages").glob("*.jpg"))[0], image)
    port = random.randint(20000, 40000)
    env = dict(os.environ, ROS_MASTER_URI=f"http://127.0.0.1:{port}", ROS_IP="127.0.0.1",
               ROS_HOME=str(tmp_path / "ros_home"), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(ros1_vision_msgs),
                                           sysconfig.get_paths()["purelib"], str(REPO),
                                           str(REPO / "deploy" / "ros2" / "edgeprune_ros")]))
    master = subprocess.Popen(["roscore", "-p", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    node = None
    try:
        time.sleep(3)
        node = subprocess.Popen(
            [str(SYSTEM_PYTHON), "-m", "edgeprune_ros.ros1_node", f"_model_path:={onnx_path}",
             "_input_topic:=/test/image", "_output_topic:=/test/detections",
             "_conf_threshold:=0.3", "_device:=cpu"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        probe = subprocess.run([str(SYSTEM_PYTHON), str(PROBE), "--image", str(image)],
                               env=env, capture_output=True, text=True, timeout=120)
    finally:
        node_log = stop(node) if node else ""
        os.killpg(master.pid, signal.SIGINT)
        master.wait(timeout=20)
    assert probe.returncode == 0, probe.stderr + node_log
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["announced"] == {"type": "vision_msgs/Detection2DArray",
                                   "md5sum": UPSTREAM_MD5["Detection2DArray"]}
    responses = result["responses"]
    assert set(responses) == {"1000", "3000"}, node_log  # the malformed one was skipped
    detector = Detector(onnx_path, conf_threshold=0.3, max_detections=100)
    expected = detector(read_image(image))[0]
    assert len(expected) > 0
    for sec, response in responses.items():
        assert response["header"]["stamp"] == {"secs": int(sec), "nsecs": 0}
        assert response["header"]["frame_id"] == "camera_optical"
        detections = response["detections"]
        assert len(detections) == len(expected)
        for detection, box, score, class_id in zip(detections, expected.boxes, expected.scores,
                                                   expected.class_ids, strict=True):
            assert detection["header"] == response["header"]
            (hypothesis,) = detection["results"]
            assert hypothesis["id"] == class_id  # Noetic: the class index, an int64
            assert hypothesis["score"] == pytest.approx(float(score), abs=1e-5)
            x1, y1, x2, y2 = box.tolist()
            bbox = detection["bbox"]
            assert (bbox["center"]["x"], bbox["center"]["y"], bbox["size_x"],
                    bbox["size_y"]) == pytest.approx(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1,
                                                      y2 - y1), abs=1e-3)
    assert "skipping image" in node_log and "vision_msgs is not installed" not in node_log
    # `device`, the last release's name of runtime_device, still works and says so
    assert "parameter device is deprecated" in node_log and "use runtime_device" in node_log


def test_ros1_vision_msgs_have_the_upstream_md5sums(ros1_vision_msgs):
    names = ", ".join(UPSTREAM_MD5)
    found = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", f"import json; from vision_msgs.msg import {names}; "
         f"print(json.dumps({{c._type.split('/')[1]: c._md5sum for c in ({names},)}}))"],
        env=dict(os.environ, PYTHONPATH=str(ros1_vision_msgs)), capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == UPSTREAM_MD5
