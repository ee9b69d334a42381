"""Where each frame's time goes, from the camera's publish to the node's detections, without
any ROS import: the node fills it from the middleware's timestamps and publishes it per frame
(the latency topic in README.md), and the periodic log reports its percentiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameLatency:
    """One frame's times in milliseconds. The publish-based ones are None where the middleware
    gave no source timestamp (rclpy before Iron passes none to callbacks)."""

    publish_to_detections_ms: float | None  # camera publish -> detections published
    transport_ms: float | None  # camera publish -> the node's callback starts (DDS + queue)
    in_node_ms: float  # callback start -> detections published
    detector_ms: float  # the Detector call: letterbox, inference, decode, NMS

    @classmethod
    def from_clock(cls, source_ns: int | None, callback_ns: int, published_ns: int,
                   detector_s: float) -> FrameLatency:
        """From wall-clock nanoseconds (the middleware stamps publishes with the system clock,
        so camera and node must share it: one machine, or clocks kept in sync)."""
        known = bool(source_ns)  # rmw gives 0 where it does not stamp
        return cls(
            publish_to_detections_ms=(published_ns - source_ns) / 1e6 if known else None,
            transport_ms=(callback_ns - source_ns) / 1e6 if known else None,
            in_node_ms=(published_ns - callback_ns) / 1e6,
            detector_ms=detector_s * 1000)

    @property
    def total_ms(self) -> float:
        """The most complete time known: from the publish where it is known, else in the node."""
        if self.publish_to_detections_ms is not None:
            return self.publish_to_detections_ms
        return self.in_node_ms

    def values(self) -> list[tuple[str, str]]:
        """(key, value) pairs for a diagnostic_msgs/KeyValue list; "" for an unknown time."""
        return [(name, "" if value is None else f"{value:.3f}")
                for name, value in (("publish_to_detections_ms", self.publish_to_detections_ms),
                                    ("transport_ms", self.transport_ms),
                                    ("in_node_ms", self.in_node_ms),
                                    ("detector_ms", self.detector_ms))]


class LatencyWindow:
    """The frames since the last report, for the periodic log line."""

    def __init__(self) -> None:
        self.frames: list[FrameLatency] = []

    def add(self, frame: FrameLatency) -> None:
        self.frames.append(frame)

    def report(self) -> str | None:
        """'N frames: publish -> detections p50 X ms, p99 Y ms; detector Z ms (median)', None
        when no frame came; starts a new window."""
        if not self.frames:
            return None
        totals = np.array([f.total_ms for f in self.frames])
        what = ("publish -> detections" if self.frames[-1].publish_to_detections_ms is not None
                else "in the node")
        detector = float(np.median([f.detector_ms for f in self.frames]))
        report = (f"{len(self.frames)} frames: {what} p50 {np.percentile(totals, 50):.1f} ms, "
                  f"p99 {np.percentile(totals, 99):.1f} ms; detector {detector:.1f} ms (median)")
        self.frames = []
        return report
