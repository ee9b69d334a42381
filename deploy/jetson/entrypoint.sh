#!/bin/bash
# Container start: build the engine if it is missing or stale, then run the detector node.
#
# Environment (what `edgeprune deploy --robot NAME` puts on the docker run line):
#   EDGEPRUNE_MODEL        ONNX (or .pt) to build from / run            (required)
#   EDGEPRUNE_ENGINE       engine path                   (default: MODEL with .engine)
#   EDGEPRUNE_RUNTIME      tensorrt | onnxruntime | torch          (default: tensorrt)
#                          (EDGEPRUNE_BACKEND, its old name, is read with a warning)
#   EDGEPRUNE_PRECISION    fp32 | fp16 | int8                           (default: fp16)
#   EDGEPRUNE_CALIB        calibration folder for int8 (edgeprune calib make --copy)
#   EDGEPRUNE_IMGSZ        input size N or WIDTHxHEIGHT        (default: the model's own)
#   EDGEPRUNE_WORKSPACE_MB TensorRT builder workspace                   (default: 1024)
#   EDGEPRUNE_PARAMS       node params YAML (edgeprune deploy writes one)
# Extra arguments go to the node (e.g. --ros-args -p conf_threshold:=0.4).
set -euo pipefail

# ROS setup scripts read unset variables
set +u
source "/opt/ros/${ROS_DISTRO}/setup.bash"
source /opt/edgeprune/ws/install/setup.bash
set -u

: "${EDGEPRUNE_MODEL:?set EDGEPRUNE_MODEL to the model to run (e.g. /opt/edgeprune/models/final.onnx)}"
if [ -n "${EDGEPRUNE_BACKEND:-}" ] && [ -z "${EDGEPRUNE_RUNTIME:-}" ]; then
    echo "warning: EDGEPRUNE_BACKEND is deprecated and will be removed in the next release: use EDGEPRUNE_RUNTIME" >&2
    EDGEPRUNE_RUNTIME="$EDGEPRUNE_BACKEND"
fi
runtime="${EDGEPRUNE_RUNTIME:-tensorrt}"
model_path="$EDGEPRUNE_MODEL"

if [ "$runtime" = "tensorrt" ]; then
    engine="${EDGEPRUNE_ENGINE:-${EDGEPRUNE_MODEL%.*}.engine}"
    build=(edgeprune export --weights "$EDGEPRUNE_MODEL" --format engine -o "$engine"
           --skip-if-current --workspace "${EDGEPRUNE_WORKSPACE_MB:-1024}"
           --timing-cache "$(dirname "$engine")/tensorrt-timing.cache")
    if [ -n "${EDGEPRUNE_IMGSZ:-}" ]; then
        build+=(--imgsz "$EDGEPRUNE_IMGSZ")
    fi
    case "${EDGEPRUNE_PRECISION:-fp16}" in
        fp32) ;;
        fp16) build+=(--precision fp16) ;;
        int8) build+=(--precision int8 --calib "${EDGEPRUNE_CALIB:?int8 needs EDGEPRUNE_CALIB, a calibration folder}") ;;
        *) echo "EDGEPRUNE_PRECISION must be fp32, fp16 or int8" >&2; exit 2 ;;
    esac
    # Kept when it was built here from the same model (sidecar: TensorRT version, GPU, sha256).
    "${build[@]}"
    model_path="$engine"
fi

ros_args=(--ros-args)
if [ -n "${EDGEPRUNE_PARAMS:-}" ]; then
    ros_args+=(--params-file "$EDGEPRUNE_PARAMS")
fi
ros_args+=(-p "model_path:=$model_path" -p "runtime:=$runtime")
exec ros2 run edgeprune_ros detector_node "${ros_args[@]}" "$@"
