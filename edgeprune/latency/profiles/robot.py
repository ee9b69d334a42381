"""Robot profiles (robots/NAME.yaml with a `device:` field): what runs on one robot.

A robot profile names its device profile (the latency-measuring setup of its computer, e.g.
jetson-orin-nano) and adds what deployment needs: the model and engine, the camera topic, the
node's thresholds, where the files live on the robot. Whatever the device profile also states
(input size, precision, camera, budget) the robot inherits unless it says otherwise; what it
deploys must be measurable by the device profile's backend (an engine needs a tensorrt device,
fp16 needs TensorRT), or the latency measured would not be that of what runs. Unknown fields
and wrong types are errors naming the file and line. A robot profile also works as
`--device NAME`: the device's measuring setup with the robot's input size, precision and
budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath

from edgeprune.errors import EdgepruneError
from edgeprune.latency.profiles.device import DeviceProfile, find_profile, load_profile
from edgeprune.latency.profiles.fields import (
    convert_fields,
    field_locator,
    read_yaml_fields,
    renamed_keys,
)
from edgeprune.models.loading import parse_imgsz

NODE_RUNTIMES = ("tensorrt", "onnxruntime", "torch")
RENAMED_KEYS = {"backend": "runtime"}  # last release's name: the new one
DEFAULT_MODELS_DIR = "/opt/edgeprune/models"
DEFAULT_IMAGE = "edgeprune-jetson:latest"


@dataclass(frozen=True)
class RobotProfile:
    """One robot's deployment. See robots/README.md for every field."""

    name: str
    device: str  # device profile name or path
    model: str  # ONNX (or .pt) the engine is built from, on the robot
    description: str = ""
    engine: str | None = None  # default: the model's name with .engine, beside it
    runtime: str | None = None  # default: tensorrt when the device measures with it
    precision: str | None = None  # default: the device profile's
    calib: str | None = None  # calibration folder on the robot (int8)
    imgsz: tuple[int, int] | None = None  # default: the device profile's
    latency_budget_ms: float | None = None  # default: the device profile's
    camera_topic: str = "/camera/image_raw"
    camera: tuple[int, int] | None = None  # (width, height); default: the device profile's
    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100
    classes: list[str] = field(default_factory=list)  # [] = all
    publish_overlay: bool = False
    qos_reliability: str = "best_effort"
    models_dir: str = DEFAULT_MODELS_DIR  # host folder with model, engine, calib, params
    image: str = DEFAULT_IMAGE  # the Jetson container (deploy/jetson/Dockerfile)
    source: str = "<built-in>"
    device_profile: DeviceProfile | None = None

    def path_on_robot(self, value: str) -> str:
        path = PurePosixPath(value)
        return str(path if path.is_absolute() else PurePosixPath(self.models_dir) / path)

    @property
    def model_path(self) -> str:
        return self.path_on_robot(self.model)

    @property
    def engine_path(self) -> str:
        if self.engine:
            return self.path_on_robot(self.engine)
        return str(PurePosixPath(self.model_path).with_suffix(".engine"))

    @property
    def run_path(self) -> str:
        """What the node loads: the engine, or the model itself on other runtimes."""
        return self.engine_path if self.runtime == "tensorrt" else self.model_path

    def as_device_profile(self) -> DeviceProfile:
        """The device profile with this robot's input size, budget and camera."""
        device = self.device_profile
        return dataclasses.replace(device, name=self.name, imgsz=self.imgsz,
                                   latency_budget_ms=self.latency_budget_ms,
                                   camera=self.camera, precision=self.precision,
                                   description=self.description or device.description,
                                   source=self.source)


_STRINGS = ("name", "device", "model", "description", "engine", "runtime", "precision",
            "calib", "camera_topic", "qos_reliability", "models_dir", "image")
_NUMBERS = ("latency_budget_ms", "conf_threshold", "iou_threshold")


def is_robot_profile(data: dict) -> bool:
    return isinstance(data, dict) and "device" in data


def find_robot(name: str) -> Path:
    """robots/NAME.yaml through the device profiles' search path (./robots,
    $EDGEPRUNE_ROBOTS, the repository's robots/); a path is taken as is."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name)
    try:
        return find_profile(name)
    except EdgepruneError as exc:
        raise EdgepruneError(str(exc).replace("device profile", "robot profile")
                             .replace("; --device also takes a .yaml path or http://HOST:PORT",
                                      "; --robot also takes a .yaml path")) from None


def load_robot(name_or_path: str | Path) -> RobotProfile:
    """Read and check a robot profile and the device profile it names."""
    path = find_robot(str(name_or_path))
    data, lines = read_yaml_fields(path, "robot profile")
    if not is_robot_profile(data):
        raise EdgepruneError(f"{path}: not a robot profile (a robot profile names its device "
                             f"profile with `device:`; this looks like a device profile)")
    return robot_from_dict(data, str(path), lines)


def robot_from_dict(data: dict, source: str, lines: dict | None = None) -> RobotProfile:
    known = {f.name for f in fields(RobotProfile)} - {"source", "device_profile"}
    lines = dict(lines or {})
    for old, new in RENAMED_KEYS.items():  # errors about `runtime` point at an old `backend:`
        if old in lines:
            lines.setdefault(new, lines[old])
    where = field_locator(source, lines)
    # in a device profile `backend` is what measures latency: one word for two things
    values = convert_fields(renamed_keys(data, RENAMED_KEYS, where, "robot profile"), known,
                            where, _convert)
    for required in ("device", "model"):
        if required not in values:
            raise EdgepruneError(f"{source}: a robot profile needs `{required}:`")
    values.setdefault("name", Path(source).stem)
    device_source = values["device"]
    device_path = (Path(source).parent / device_source
                   if device_source.endswith((".yaml", ".yml")) else find_profile(device_source))
    device = load_profile(device_path)
    return _inherit(values, device, source, where)


def _inherit(values: dict, device: DeviceProfile, source: str, where) -> RobotProfile:
    from edgeprune.latency.backends import BACKENDS

    for key in ("imgsz", "precision", "latency_budget_ms", "camera"):
        if values.get(key) is None:
            values[key] = getattr(device, key)
    if values.get("runtime") is None:
        values["runtime"] = "tensorrt" if device.backend == "tensorrt" else "onnxruntime"
    if values["runtime"] == "tensorrt" and device.backend != "tensorrt":
        raise EdgepruneError(f"{where('runtime')}: a TensorRT engine, but the device profile "
                             f"{device.source} measures with {device.backend}: its latency "
                             f"would not be the engine's")
    measurable = BACKENDS.get(device.backend).precisions if device.backend in BACKENDS else ()
    if values["runtime"] != "tensorrt" and values["precision"] == "fp16":
        raise EdgepruneError(f"{where('precision')}: fp16 is deployed as a TensorRT engine; "
                             f"runtime {values['runtime']} runs the model in fp32")
    if device.backend != "remote" and values["precision"] not in measurable:
        raise EdgepruneError(f"{where('precision')}: {values['precision']} cannot be measured "
                             f"on the device profile {device.source} ({device.backend}: "
                             f"{', '.join(measurable)})")
    if values["precision"] == "int8" and values["runtime"] == "tensorrt" and not values.get(
            "calib"):
        raise EdgepruneError(f"{where('precision')}: int8 engines need `calib:` (a "
                             f"calibration folder made by `edgeprune calib make`)")
    return RobotProfile(**values, source=source, device_profile=device)


def _convert(key: str, value):
    if key == "imgsz":
        return parse_imgsz(value)
    if key == "camera":
        if not (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                        for v in value)):
            raise ValueError(f"expected [width, height] in pixels, got {value!r}")
        return (value[0], value[1])
    if key == "classes":
        if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            raise ValueError(f"expected a list of class names, got {value!r}")
        return list(value)
    if key == "publish_overlay":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if key == "max_detections":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected a positive integer, got {value!r}")
        return value
    if key in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        if key != "latency_budget_ms" and not 0 <= value <= 1:
            raise ValueError(f"expected a value in [0, 1], got {value}")
        if key == "latency_budget_ms" and value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return float(value)
    if key in _STRINGS and (not isinstance(value, str) or not value):
        raise ValueError(f"expected a non-empty string, got {value!r}")
    if key == "precision" and value not in ("fp32", "fp16", "int8"):
        raise ValueError(f"expected fp32, fp16 or int8, got {value!r}")
    if key == "runtime" and value not in NODE_RUNTIMES:
        raise ValueError(f"expected one of {', '.join(NODE_RUNTIMES)}, got {value!r}")
    if key == "qos_reliability" and value not in ("best_effort", "reliable"):
        raise ValueError(f"expected best_effort or reliable, got {value!r}")
    if key == "camera_topic" and not value.startswith("/"):
        raise ValueError(f"expected an absolute topic name (/camera/image_raw), got {value!r}")
    return value
