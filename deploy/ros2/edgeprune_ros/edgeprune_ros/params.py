"""The node's parameters and their defaults: the contract in README.md, shared by the ROS 2
node and the ROS 1 adapter (no ROS import here)."""

PARAMETERS = {
    "model_path": "",  # .onnx, .engine or .pt; required
    "backend": "auto",  # auto | onnxruntime | tensorrt | torch
    "device": "",  # "": the backend's default (engines: cuda; onnxruntime: cuda if it has it)
    "imgsz": "",  # "" or 0: the model's own input size; N or "WIDTHxHEIGHT"
    "input_topic": "image",
    "output_topic": "detections",
    "fallback_topic": "detections_json",
    "overlay_topic": "detections_image",
    "latency_topic": "detections_latency",  # per-frame timing (ROS 2 only); "": not published
    "publish_overlay": False,
    "conf_threshold": 0.25,
    "iou_threshold": 0.45,
    "max_detections": 100,
    "classes": [""],  # class names to publish; [""] or []: all
    "qos_reliability": "best_effort",  # best_effort (camera drivers' sensor QoS) | reliable
    "qos_depth": 1,  # keep only the newest frames: a slow detector skips, never lags behind
    "log_period_s": 30.0,  # frames/s and time per frame in the log this often; 0: never
}
# YAML writes 1 for 1.0 and 416 for "416": these take either type and are checked when read.
LOOSELY_TYPED = ("imgsz", "conf_threshold", "iou_threshold", "log_period_s")
