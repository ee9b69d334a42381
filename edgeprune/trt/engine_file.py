"""A TensorRT engine file and its JSON sidecar, written as one set and checked on load.

An engine runs only with the TensorRT version and on the GPU model it was built for, and the
file itself says neither in a readable way. The sidecar (`final.engine.json`) records what the
Detector needs (input shape, class names, precision) and what the engine is tied to (TensorRT
version, GPU name and compute capability), plus when and from what it was built; the
Detector's tensorrt engine reads it and refuses a mismatched engine with a message saying
how to rebuild, instead of TensorRT's deserialization error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.trt.build import EngineError

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
    if recorded and recorded != sha256(engine_bytes):
        raise EngineError(f"{engine_path}: its sidecar {sidecar_path(engine_path)} describes "
                          f"another engine (an interrupted export?); export it again")


def write_engine(path: str | Path, serialized: bytes, sidecar: dict) -> None:
    """Engine and sidecar as one set: both are written in full first, then the engine is
    renamed into place and the sidecar last; the sidecar records the engine's sha256, so an
    old sidecar beside a new engine (a kill between the renames) fails the check on load."""
    from edgeprune.filesets import write_file_set

    write_file_set({Path(path): serialized,
                    sidecar_path(path): json.dumps(sidecar, indent=2) + "\n"})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def require_engine_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(f"{path}: engine file not found")
    return path
