"""The files and commands that put a robot profile's detector on the robot.

`deployment_files(robot)` gives, by file name: the node's parameters (ROS 2 params YAML), the
engine build, the launch command, the `docker run` line of the Jetson container and a systemd
unit that keeps it running. Paths are the robot's own; the container mounts `models_dir` at
the same path, so one params file serves the container and a native install alike.
"""

from __future__ import annotations

import shlex

import yaml

from edgeprune.latency.profiles.robot import RobotProfile

NODE_NAME = "edgeprune_detector"


def node_parameters(robot: RobotProfile) -> dict:
    """The detector node's ROS 2 parameters (deploy/ros2/edgeprune_ros/README.md)."""
    height, width = robot.imgsz if robot.imgsz else (0, 0)
    imgsz = "" if not robot.imgsz else str(height) if height == width else f"{width}x{height}"
    return {
        "model_path": robot.run_path,
        "runtime": robot.runtime,
        "runtime_device": "cuda" if robot.runtime == "tensorrt" else "",
        "imgsz": imgsz,
        "input_topic": robot.camera_topic,
        "output_topic": "detections",
        "fallback_topic": "detections_json",
        "overlay_topic": "detections_image",
        "publish_overlay": robot.publish_overlay,
        "conf_threshold": robot.conf_threshold,
        "iou_threshold": robot.iou_threshold,
        "max_detections": robot.max_detections,
        "classes": list(robot.classes) or [""],
        "qos_reliability": robot.qos_reliability,
        "qos_depth": 1,
    }


def params_yaml(robot: RobotProfile) -> str:
    header = (f"# edgeprune detector node for robot {robot.name} ({robot.source});\n"
              f"# made by `edgeprune deploy --robot {robot.name}`.\n")
    body = {NODE_NAME: {"ros__parameters": node_parameters(robot)}}
    return header + yaml.safe_dump(body, sort_keys=False)


def params_path(robot: RobotProfile) -> str:
    return robot.path_on_robot(f"{robot.name}.params.yaml")


def build_command(robot: RobotProfile) -> list[str] | None:
    """`edgeprune export ... --format engine` for the robot, None when it runs no engine."""
    if robot.runtime != "tensorrt":
        return None
    command = ["edgeprune", "export", "--weights", robot.model_path, "--format", "engine",
               "-o", robot.engine_path, "--skip-if-current"]
    if robot.imgsz:
        command += ["--imgsz", f"{robot.imgsz[1]}x{robot.imgsz[0]}"]
    if robot.precision != "fp32":
        command += ["--precision", robot.precision]
    if robot.precision == "int8":
        command += ["--calib", robot.path_on_robot(robot.calib)]
    return command


def launch_command(robot: RobotProfile) -> list[str]:
    return ["ros2", "launch", "edgeprune_ros", "detector.launch.py",
            f"params_file:={params_path(robot)}",
            f"{'engine' if robot.runtime == 'tensorrt' else 'model'}:={robot.run_path}",
            f"input_topic:={robot.camera_topic}",
            f"publish_overlay:={str(robot.publish_overlay).lower()}"]


def container_environment(robot: RobotProfile) -> dict[str, str]:
    """What deploy/jetson/entrypoint.sh reads."""
    env = {"EDGEPRUNE_MODEL": robot.model_path, "EDGEPRUNE_ENGINE": robot.engine_path,
           "EDGEPRUNE_PRECISION": robot.precision or "fp32",
           "EDGEPRUNE_PARAMS": params_path(robot), "EDGEPRUNE_RUNTIME": robot.runtime or ""}
    if robot.imgsz:
        env["EDGEPRUNE_IMGSZ"] = f"{robot.imgsz[1]}x{robot.imgsz[0]}"
    if robot.calib:
        env["EDGEPRUNE_CALIB"] = robot.path_on_robot(robot.calib)
    return env


def docker_run_command(robot: RobotProfile) -> list[str]:
    command = ["docker", "run", "--rm", "--name", f"edgeprune-{robot.name}",
               "--runtime", "nvidia", "--network", "host", "--ipc", "host",
               "-v", f"{robot.models_dir}:{robot.models_dir}"]
    for key, value in container_environment(robot).items():
        command += ["-e", f"{key}={value}"]
    return [*command, robot.image]


def systemd_unit(robot: RobotProfile) -> str:
    container = f"edgeprune-{robot.name}"
    return (
        f"# systemd unit for robot {robot.name}: the detector container starts with the robot\n"
        f"# and restarts if it stops. Install: sudo cp edgeprune-{robot.name}.service "
        f"/etc/systemd/system/ &&\n#   sudo systemctl daemon-reload && "
        f"sudo systemctl enable --now edgeprune-{robot.name}\n"
        "[Unit]\n"
        f"Description=edgeprune detector ({robot.name})\n"
        "After=docker.service network-online.target\n"
        "Requires=docker.service\n"
        "Wants=network-online.target\n\n"
        "[Service]\n"
        f"ExecStartPre=-/usr/bin/docker rm -f {container}\n"
        f"ExecStart=/usr/bin/{shlex.join(docker_run_command(robot))}\n"
        f"ExecStop=/usr/bin/docker stop {container}\n"
        "Restart=always\n"
        "RestartSec=5\n"
        "# the first start may build the engine (minutes on a Jetson)\n"
        "TimeoutStartSec=900\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n")


def commands_script(robot: RobotProfile) -> str:
    """A shell script with the native (no container) steps, in order."""
    lines = ["#!/bin/sh", f"# Detector of robot {robot.name} without the container "
             f"(`edgeprune deploy --robot {robot.name}`).", "set -e"]
    build = build_command(robot)
    if build:
        lines += ["# build (or keep) the engine for this TensorRT and GPU", shlex.join(build)]
    lines += ["# run the node", shlex.join(launch_command(robot))]
    return "\n".join(lines) + "\n"


def deployment_files(robot: RobotProfile) -> dict[str, str]:
    """File name -> content of everything `edgeprune deploy --write DIR` writes."""
    return {
        f"{robot.name}.params.yaml": params_yaml(robot),
        "run-native.sh": commands_script(robot),
        "docker-run.sh": "#!/bin/sh\n# the Jetson container (deploy/jetson/)\nexec "
                         + shlex.join(docker_run_command(robot)) + "\n",
        f"edgeprune-{robot.name}.service": systemd_unit(robot),
    }
