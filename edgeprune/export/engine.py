"""TensorRT engine export: edgeprune's ONNX export -> engine file + JSON sidecar.

The engine is built by trt/build.py (int8 calibrated on a calib/ set: TensorRT's entropy
calibrator, or a QDQ graph where this TensorRT has none) and written with its sidecar as one
set by trt/engine_file.py, which also holds the checks the Detector's tensorrt engine makes
when it loads one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgeprune.clock import utc_now
from edgeprune.trt.build import EngineError
from edgeprune.trt.engine_file import (
    SIDECAR_FORMAT,
    incompatibility,
    read_sidecar,
    sha256,
    write_engine,
)


@dataclass(frozen=True)
class EngineExport:
    path: Path
    sidecar: dict
    build_seconds: float
    skipped: bool = False  # an up-to-date engine was already there


def is_current(engine_path: str | Path, onnx_sha256: str, precision: str,
               tensorrt_version: str, gpu_name: str) -> bool:
    """Whether `engine_path` exists and was built here from this ONNX at this precision."""
    engine_path = Path(engine_path)
    try:
        sidecar = read_sidecar(engine_path)
    except EngineError:
        return False
    if sidecar is None or not engine_path.is_file():
        return False
    return (sidecar.get("source", {}).get("onnx_sha256") == onnx_sha256
            and sidecar.get("precision") == precision
            and sidecar.get("engine_sha256") == sha256(engine_path.read_bytes())
            and incompatibility(sidecar, tensorrt_version, gpu_name) is None)


def export_engine(onnx_model: bytes, path: str | Path, *, imgsz: tuple[int, int],
                  names: list[str], precision: str = "fp32", max_batch: int = 1,
                  workspace_mb: int = 1024, timing_cache: str | Path | None = None,
                  calib: str | Path | None = None, calib_batch: int = 8,
                  source: str | None = None, device_id: int = 0,
                  skip_if_current: bool = False, log=None) -> EngineExport:
    """Build a TensorRT engine from edgeprune's ONNX export and write it with its sidecar.

    int8 needs `calib` (a calib/NAME folder): TensorRT's entropy calibrator reads its images,
    or the cache it left there for this model. `skip_if_current` keeps an engine already built
    here from the same ONNX (the Jetson container's start-up check).
    """
    from edgeprune.onnxio.serialize import read_onnx_metadata
    from edgeprune.trt.build import (
        EngineBuilder,
        ProfileShapes,
        cuda_call,
        gpu_info,
        import_cudart,
    )

    path = Path(path)
    log = log or (lambda message: None)
    if precision == "int8" and calib is None:
        raise EngineError("int8 needs a calibration set: --calib calib/NAME (make one with "
                          "`edgeprune calib make`)")
    calib_set = None
    if calib is not None:
        from edgeprune.calib import load_calib_set

        calib_set = load_calib_set(calib)
        calib_set.input_size(imgsz)
    builder = EngineBuilder(workspace_mb, timing_cache)
    cudart = import_cudart()
    cuda_call(cudart, cudart.cudaSetDevice(device_id), "cudaSetDevice")
    gpu = gpu_info(cudart, device_id)
    onnx_sha = sha256(onnx_model)
    if skip_if_current and is_current(path, onnx_sha, precision, builder.version, gpu.name):
        log(f"{path} is up to date (TensorRT {builder.version}, {gpu.name}); not rebuilt")
        return EngineExport(path, read_sidecar(path) or {}, 0.0, skipped=True)
    shapes = ProfileShapes.batches(max_batch, imgsz)
    calibrator, calibration = None, None
    if precision == "int8":
        calibrator, calibration = _int8_calibration(builder, calib_set, onnx_sha, imgsz,
                                                    calib_batch, onnx_model)
        if calibrator is None:  # this TensorRT has no calibrators: a QDQ graph instead
            onnx_model = calibration.pop("qdq_model")
    log(f"building a {precision} engine for {gpu.name} with TensorRT {builder.version} "
        f"(minutes for a large model; the timing cache {builder.timing_cache} speeds up "
        f"later builds)")
    started = time.perf_counter()
    try:
        serialized = builder.build(onnx_model, shapes, precision, calibrator=calibrator,
                                   calibration_shape=(calibrator.get_batch_size(), 3, *imgsz)
                                   if calibrator is not None else None)
    finally:
        if calibrator is not None:
            calibrator.free()
    build_seconds = time.perf_counter() - started
    if calibrator is not None:
        calibration.update(batches=calibrator.batches_fed,
                           cache_reused=calibrator.cache_reused)
    metadata = read_onnx_metadata(onnx_model)
    sidecar = {
        "format": SIDECAR_FORMAT,
        "engine": path.name,
        "engine_sha256": sha256(serialized),
        "engine_bytes": len(serialized),
        "input": {"name": "images", "min_shape": list(shapes.min), "opt_shape": list(shapes.opt),
                  "max_shape": list(shapes.max), "dtype": "float32",
                  "preprocess": "letterbox (grey 114), RGB, [0, 1], NCHW"},
        "output": {"name": "detections", "rows": "cx, cy, w, h, objectness, class probs"},
        "imgsz": list(imgsz),
        "max_batch": max_batch,
        "precision": precision,
        "names": list(names),
        "tensorrt_version": builder.version,
        "gpu": gpu.to_json(),
        "built_at": utc_now(),
        "build_seconds": round(build_seconds, 3),
        "workspace_mb": workspace_mb,
        "source": {"weights": source, "onnx_sha256": onnx_sha},
        "calibration": calibration,
        "onnx_metadata": metadata,
    }
    write_engine(path, serialized, sidecar)
    return EngineExport(path, sidecar, build_seconds)


def _int8_calibration(builder, calib_set, onnx_sha: str, imgsz: tuple[int, int],
                      batch_size: int, onnx_model: bytes):
    """(calibrator, record): TensorRT's entropy calibrator when this TensorRT has one, else
    (None, record with a QDQ model calibrated on the same images by ONNX Runtime)."""
    record = {"set": str(calib_set.folder), "images": len(calib_set)}
    if builder.has_calibrators:
        from edgeprune.trt.calibrator import entropy_calibrator

        cache = calib_set.cache_path(onnx_sha, imgsz)
        record.update(method="tensorrt entropy calibrator 2", cache=str(cache))
        return entropy_calibrator(calib_set, imgsz, cache, batch_size), record
    from edgeprune.trt.qdq import quantize_with_calib_set

    record.update(method="QDQ, ONNX Runtime entropy calibration (explicit quantization)")
    record["qdq_model"] = quantize_with_calib_set(onnx_model, calib_set, imgsz)
    return None, record
