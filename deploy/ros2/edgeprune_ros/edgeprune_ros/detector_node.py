"""ROS 2 node: sensor_msgs/Image in, vision_msgs/Detection2DArray out, through edgeprune's Detector.

The contract is the parameters and topics listed in this package's README. The same Detector
class runs here as in `edgeprune val` and the benchmarks, so what was measured is what runs.
"""

from __future__ import annotations

import sys
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from sensor_msgs.msg import Image
from std_msgs.msg import String

from edgeprune_ros.conversions import ImageMessageError
from edgeprune_ros.latency import FrameLatency, LatencyWindow
from edgeprune_ros.messages import (
    HAVE_VISION_MSGS,
    Detection2DArray,
    detections_message,
    overlay_message,
)
from edgeprune_ros.params import LOOSELY_TYPED, PARAMETERS, RENAMED, apply_renamed
from edgeprune_ros.pipeline import DetectionPipeline, number

# rclpy passes the middleware's MessageInfo (with the publisher's source timestamp) to
# two-argument callbacks from Iron on; Humble's calls every callback with the message alone.
MESSAGE_INFO = hasattr(Subscription, "CallbackType")


class DetectorNode(Node):
    def __init__(self) -> None:
        super().__init__("edgeprune_detector")
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default,
                                   ParameterDescriptor(dynamic_typing=name in LOOSELY_TYPED))
        for old in RENAMED:  # the last release's names: "" unless a params file still sets them
            self.declare_parameter(old, "")
        params = {name: self.get_parameter(name).value for name in PARAMETERS}
        for warning in apply_renamed(params, {old: self.get_parameter(old).value
                                              for old in RENAMED}):
            self.get_logger().warning(warning)
        self.pipeline = DetectionPipeline(params)
        self.described = self.pipeline.describe()
        # The JSON fallback's integer class_id indexes this list; `ros2 param get` shows it.
        self.declare_parameter("model_class_names", self.pipeline.names,
                               ParameterDescriptor(read_only=True))
        reliability = (ReliabilityPolicy.RELIABLE if params["qos_reliability"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(1, params["qos_depth"]),
                         reliability=reliability)
        if HAVE_VISION_MSGS:
            self.publisher = self.create_publisher(Detection2DArray, params["output_topic"], 10)
            where = f"vision_msgs/Detection2DArray on {self.publisher.topic_name}"
        else:
            self.publisher = self.create_publisher(String, params["fallback_topic"], 10)
            where = f"JSON (std_msgs/String) on {self.publisher.topic_name}"
            self.get_logger().warning(
                "vision_msgs is not installed: publishing detections as JSON on "
                f"{self.publisher.topic_name} instead of Detection2DArray")
        self.overlay = (self.create_publisher(Image, params["overlay_topic"], qos)
                        if params["publish_overlay"] else None)
        self.latency = (self.create_publisher(DiagnosticArray, params["latency_topic"], 10)
                        if params["latency_topic"] else None)
        self.latency_window = LatencyWindow()
        callback = self.on_image if MESSAGE_INFO else (lambda msg: self.on_image(msg, None))
        self.subscription = self.create_subscription(Image, params["input_topic"], callback,
                                                     qos)
        period = number(params, "log_period_s")
        if period > 0:
            self.create_timer(period, self._log_rate)
        if self.latency is not None:
            where += f", frame latency on {self.latency.topic_name}"
        self.get_logger().info(
            f"ready: {params['model_path']} ({self.described}), "
            f"{self.subscription.topic_name} -> {where}")

    def _log_rate(self) -> None:
        report = self.latency_window.report()
        if report:
            self.get_logger().info(report)

    def on_image(self, msg: Image, info: dict | None) -> None:
        callback_ns = time.time_ns()
        try:
            frame = self.pipeline.process(msg.encoding, msg.height, msg.width, msg.step,
                                          msg.data)
        except ImageMessageError as exc:
            self.get_logger().warning(f"skipping image ({msg.header.frame_id}): {exc}",
                                      throttle_duration_sec=5.0)
            return
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        self.publisher.publish(detections_message(frame.boxes, msg.header, stamp, String))
        latency = FrameLatency.from_clock(info["source_timestamp"] if info else None,
                                          callback_ns, time.time_ns(), frame.detector_s)
        self.latency_window.add(latency)
        if self.latency is not None:
            self.latency.publish(self._latency_message(latency, msg.header))
        if self.overlay is not None:
            self.overlay.publish(overlay_message(self.pipeline.overlay(frame), msg.header, Image))

    def _latency_message(self, latency: FrameLatency, header) -> DiagnosticArray:
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK, name=f"{self.get_name()}: frame latency",
            message=f"{latency.total_ms:.1f} ms "
                    + ("publish to detections" if latency.publish_to_detections_ms is not None
                       else "in the node"),
            hardware_id=self.described,
            values=[KeyValue(key=key, value=value) for key, value in latency.values()])
        return DiagnosticArray(header=header, status=[status])


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
