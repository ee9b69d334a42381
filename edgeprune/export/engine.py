"""TensorRT engine export: ONNX export -> engine file + JSON sidecar, written atomically.

An engine runs only with the TensorRT version and on the GPU model it was built for, and the
file itself says neither in a readable way. The sidecar (`final.engine.json`) records what the
Detector needs (input shape, class names, precision) and what the engine is tied to (TensorRT
version, GPU name and compute capability), plus when and from what it was built; the
Detector's tensorrt backend reads it and refuses a mismatched engine with a message saying
how to rebuild, instead of TensorRT's deserialization error.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from edgeprune.clock import utc_now
from edgeprune.errors import EdgepruneError
from edgeprune.export.tensorrt import EngineError

SIDECAR_FORMAT = "edgeprune-engine/1"
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def sidecar_path(engine_path: str | Path) -> Path:
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def read_sidecar(engine_path: str | Path) -> dict | None:
    """The engine's sidecar, None when there is none; a broken one is an error naming it."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError(f"{path}: not a readable engine sidecar ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise EngineError(f"{path}: not an edgeprune engine sidecar (format "
                          f"{data.get('format') if isinstance(data, dict) else None!r}, "
                          f"expected {SIDECAR_FORMAT!r})")
    return data


def incompatibility(sidecar: dict, tensorrt_version: str, gpu_name: str,
                    compute_capability: str | None = None) -> str | None:
    """Why an engine described by `sidecar` cannot run here, or None when it can."""
    built_trt = str(sidecar.get("tensorrt_version"))
    gpu = sidecar.get("gpu") or {}
    problems = []
    if built_trt != tensorrt_version:
        problems.append(f"TensorRT {built_trt} (this machine has TensorRT {tensorrt_version})")
    same_gpu = gpu.get("name") == gpu_name and (
        compute_capability is None or gpu.get("compute_capability") in (None,
                                                                        compute_capability))
    if not same_gpu:
        here = gpu_name + (f", sm {compute_capability}" if compute_capability else "")
        problems.append(f"a {gpu.get('name')} GPU, sm {gpu.get('compute_capability')} "
                        f"(this machine has {here})")
    return " and ".join(problems) or None


def check_compatible(engine_path: str | Path, sidecar: dict, tensorrt_version: str,
                     gpu_name: str, compute_capability: str | None = None) -> None:
    """Raise a clear EngineError when the engine was built for another TensorRT or GPU."""
    why = incompatibility(sidecar, tensorrt_version, gpu_name, compute_capability)
    if why:
        source = (sidecar.get("source") or {}).get("weights") or "MODEL"
        raise EngineError(f"{engine_path}: built for {why}. An engine runs only with the "
                          f"TensorRT version and GPU it was built for: rebuild it on this "
                          f"machine with `edgeprune export --weights {source} --format engine`")


def check_engine_matches(engine_path: str | Path, sidecar: dict, engine_bytes: bytes) -> None:
    """Raise when the sidecar describes another engine than the file beside it (an export
    killed between writing the two)."""
    recorded = sidecar.get("engine_sha256")
    if recorded and recorded != _sha256(engine_bytes):
        raise EngineError(f"{engine_path}: its sidecar {sidecar_path(engine_path)} describes "
                          f"another engine (an interrupted export?); export it again")


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
            and sidecar.get("engine_sha256") == _sha256(engine_path.read_bytes())
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
    from edgeprune.export.onnx import read_onnx_metadata
    from edgeprune.export.tensorrt import (
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
    onnx_sha = _sha256(onnx_model)
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
        "engine_sha256": _sha256(serialized),
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


def write_engine(path: str | Path, serialized: bytes, sidecar: dict) -> None:
    """Engine and sidecar as one set: both are written in full first, then the engine is
    renamed into place and the sidecar last; the sidecar records the engine's sha256, so an
    old sidecar beside a new engine (a kill between the renames) fails the check on load."""
    from edgeprune.filesets import write_file_set

    write_file_set({Path(path): serialized,
                    sidecar_path(path): json.dumps(sidecar, indent=2) + "\n"})


def _int8_calibration(builder, calib_set, onnx_sha: str, imgsz: tuple[int, int],
                      batch_size: int, onnx_model: bytes):
    """(calibrator, record): TensorRT's entropy calibrator when this TensorRT has one, else
    (None, record with a QDQ model calibrated on the same images by ONNX Runtime)."""
    record = {"set": str(calib_set.folder), "images": len(calib_set)}
    if builder.has_calibrators:
        from edgeprune.calib.trt_calibrator import entropy_calibrator

        cache = calib_set.cache_path(onnx_sha, imgsz)
        record.update(method="tensorrt entropy calibrator 2", cache=str(cache))
        return entropy_calibrator(calib_set, imgsz, cache, batch_size), record
    from edgeprune.calib.qdq import quantize_with_calib_set

    record.update(method="QDQ, ONNX Runtime entropy calibration (explicit quantization)")
    record["qdq_model"] = quantize_with_calib_set(onnx_model, calib_set, imgsz)
    return None, record


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def require_engine_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(f"{path}: engine file not found")
    return path
