"""ROS 2 node: sensor_msgs/Image in, vision_msgs/Detection2DArray out, through edgeprune's Detector.

The contract is the parameters and topics listed in this package's README. The same Detector
class runs here as in `edgeprune val` and the benchmarks, so what was measured is what runs.
"""

from __future__ import annotations

import json
import sys
import time

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from edgeprune_ros.conversions import (
    ImageMessageError,
    boxes_to_json_payload,
    detections_to_boxes,
    image_to_bgr,
)

try:  # vision_msgs has no PyPI wheel; without it detections go out as JSON (README).
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    HAVE_VISION_MSGS = True
except ImportError:
    HAVE_VISION_MSGS = False

PARAMETERS = {
    "model_path": "",  # .onnx, .engine or .pt; required
    "backend": "auto",  # auto | onnxruntime | tensorrt | torch
    "device": "",  # "": the backend's default (engines: cuda; onnxruntime: cuda if it has it)
    "imgsz": "",  # "" or 0: the model's own input size; N or "WIDTHxHEIGHT"
    "input_topic": "image",
    "output_topic": "detections",
    "fallback_topic": "detections_json",
    "overlay_topic": "detections_image",
    "publish_overlay": False,
    "conf_threshold": 0.25,
    "iou_threshold": 0.45,
    "max_detections": 100,
    "classes": [""],  # class names to publish; [""] or []: all
    "qos_reliability": "best_effort",  # best_effort (camera drivers' sensor QoS) | reliable
    "qos_depth": 1,  # keep only the newest frames: a slow detector skips, never lags behind
    "log_period_s": 30.0,  # frames/s and time per frame in the log this often; 0: never
}
# YAML writes 1 for 1.0 and 416 for "416": these take either type and are checked here.
LOOSELY_TYPED = ("imgsz", "conf_threshold", "iou_threshold", "log_period_s")


class DetectorNode(Node):
    def __init__(self) -> None:
        super().__init__("edgeprune_detector")
        for name, default in PARAMETERS.items():
            descriptor = ParameterDescriptor(dynamic_typing=name in LOOSELY_TYPED)
            self.declare_parameter(name, default, descriptor)
        value = self._param
        model_path = value("model_path")
        if not model_path:
            raise ValueError("parameter model_path is required (an .onnx, .engine or .pt)")
        thresholds = {name: self._number(name) for name in ("conf_threshold", "iou_threshold")}
        for name, number in thresholds.items():
            if not 0 <= number <= 1:
                raise ValueError(f"parameter {name} must be in [0, 1], got {number}")
        reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT,
                       "reliable": ReliabilityPolicy.RELIABLE}.get(value("qos_reliability"))
        if reliability is None:
            raise ValueError(f"parameter qos_reliability must be best_effort or reliable, got "
                             f"{value('qos_reliability')!r}")
        from edgeprune.runtime.detector import Detector  # heavy: after the parameters are sane

        imgsz = value("imgsz")
        self.detector = Detector(model_path, backend=value("backend"),
                                 imgsz=imgsz if imgsz not in ("", 0, "0") else None,
                                 max_detections=value("max_detections"),
                                 device=value("device") or None, **thresholds)
        self.allowed_classes = {c for c in value("classes") if c} or None
        unknown = (self.allowed_classes or set()) - set(self.detector.names)
        if unknown:
            raise ValueError(f"classes {sorted(unknown)} are not among the model's classes "
                             f"{self.detector.names}")
        # Class ids in the messages index this list; `ros2 param get` shows it.
        self.declare_parameter("model_class_names", list(self.detector.names),
                               ParameterDescriptor(read_only=True))
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(1, value("qos_depth")),
                         reliability=reliability)
        if HAVE_VISION_MSGS:
            self.publisher = self.create_publisher(Detection2DArray, value("output_topic"), 10)
            where = f"vision_msgs/Detection2DArray on {self.publisher.topic_name}"
        else:
            self.publisher = self.create_publisher(String, value("fallback_topic"), 10)
            where = f"JSON (std_msgs/String) on {self.publisher.topic_name}"
            self.get_logger().warning(
                "vision_msgs is not installed: publishing detections as JSON on "
                f"{self.publisher.topic_name} instead of Detection2DArray")
        self.overlay = (self.create_publisher(Image, value("overlay_topic"), qos)
                        if value("publish_overlay") else None)
        self.subscription = self.create_subscription(Image, value("input_topic"),
                                                     self.on_image, qos)
        self.frames, self.busy_s = 0, 0.0
        period = self._number("log_period_s")
        if period > 0:
            self.create_timer(period, self._log_rate)
        height, width = self.detector.imgsz
        self.get_logger().info(
            f"ready: {model_path} ({self.detector.backend.describe()}, {width}x{height}, "
            f"{len(self.detector.names)} classes), {self.subscription.topic_name} -> {where}")

    def _param(self, name: str):
        return self.get_parameter(name).value

    def _number(self, name: str) -> float:
        number = self._param(name)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ValueError(f"parameter {name} must be a number, got {number!r}")
        return float(number)

    def _log_rate(self) -> None:
        if self.frames:
            self.get_logger().info(f"{self.frames} frames, {self.busy_s / self.frames * 1000:.1f} "
                                   f"ms each in the detector")
        self.frames, self.busy_s = 0, 0.0

    def on_image(self, msg: Image) -> None:
        try:
            image = image_to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data)
        except ImageMessageError as exc:
            self.get_logger().warning(f"skipping image ({msg.header.frame_id}): {exc}",
                                      throttle_duration_sec=5.0)
            return
        started = time.perf_counter()
        detections = self.detector(image)[0]
        self.busy_s += time.perf_counter() - started
        self.frames += 1
        boxes = detections_to_boxes(detections, self.detector.names, self.allowed_classes)
        if HAVE_VISION_MSGS:
            self.publisher.publish(_detection_array(msg.header, boxes))
        else:
            payload = boxes_to_json_payload(boxes, msg.header.stamp.sec,
                                            msg.header.stamp.nanosec, msg.header.frame_id)
            self.publisher.publish(String(data=json.dumps(payload)))
        if self.overlay is not None:
            from edgeprune.runtime.draw import draw_detections

            drawn = draw_detections(image, detections, self.detector.names)
            out = Image(header=msg.header, height=drawn.shape[0], width=drawn.shape[1],
                        encoding="bgr8", is_bigendian=0, step=drawn.shape[1] * 3,
                        data=drawn.tobytes())
            self.overlay.publish(out)


def _detection_array(header, boxes):
    """Detection2DArray of `boxes`; the field layout of vision_msgs 4 (Humble and later) or,
    where the message is older (Foxy), its flat fields."""
    array = Detection2DArray(header=header)
    for box in boxes:
        detection = Detection2D(header=header)
        center = detection.bbox.center
        point = center.position if hasattr(center, "position") else center
        point.x, point.y = box.center_x, box.center_y
        detection.bbox.size_x = box.size_x
        detection.bbox.size_y = box.size_y
        hypothesis = ObjectHypothesisWithPose()
        target = hypothesis.hypothesis if hasattr(hypothesis, "hypothesis") else hypothesis
        if hasattr(target, "class_id"):
            target.class_id = str(box.class_id)  # index into model_class_names
        else:
            target.id = box.class_id
        target.score = box.score
        detection.results.append(hypothesis)
        array.detections.append(detection)
    return array


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = DetectorNode()
    except Exception as exc:  # a bad parameter or model: one clear line, non-zero exit
        print(f"edgeprune_detector: {exc}", file=sys.stderr)
        rclpy.shutdown()
        return 1
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
