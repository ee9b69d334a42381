"""The node's parameters and their defaults: the contract in README.md, shared by the ROS 2
node and the ROS 1 adapter (no ROS import here)."""

PARAMETERS = {
    "model_path": "",  # .onnx, .engine or .pt; required
    "runtime": "auto",  # auto | onnxruntime | tensorrt | torch
    "runtime_device": "",  # "": the runtime's default (engines: cuda; onnxruntime: cuda if any)
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

# The last release's names, still read for one release with a warning: "backend" is what
# measures latency elsewhere in edgeprune, and "device" its latency target.
RENAMED = {"backend": "runtime", "device": "runtime_device"}


def apply_renamed(params: dict, old_values: dict) -> list[str]:
    """Moves the values of old parameter names (`old_values`: name -> value, "" when not set)
    into `params` under their new names; returns the warnings to log. A value under both
    names that differs is a ValueError: the node cannot know which one was meant."""
    warnings = []
    for old, new in RENAMED.items():
        value = old_values.get(old, "")
        if value in ("", None):
            continue
        if params[new] not in ("", PARAMETERS[new], value):
            raise ValueError(f"parameters {old} (the old name of {new}) and {new} are both set, "
                             f"to {value!r} and {params[new]!r}; set {new} only")
        params[new] = value
        warnings.append(f"parameter {old} is deprecated and will be removed in the next "
                        f"release: use {new}")
    return warnings
