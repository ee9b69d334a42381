"""The rival users would pick (issue 27): a YOLOv8 trained with ultralytics on the same data
for the same epochs, exported to ONNX, scored by edgeprune's evaluator and timed side by side.

ultralytics is AGPL: never an edgeprune dependency. It gets an environment of its own in the
work folder (it brings its own torch and torchvision; ../shared/notes/ultralytics-rival.md),
and ultralytics_job.py runs inside it. Its ONNX output is (1, 4 + classes, boxes): centre,
size and per-class scores, no objectness. `adapt` appends a few ONNX nodes that turn it into
edgeprune's detection rows (1, boxes, 5 + classes) with objectness 1, so edgeprune's Detector
(same letterbox, RGB, [0, 1] input as ultralytics) decodes, thresholds and NMSes it exactly as
it does every other model, and `edgeprune val` scores it on the same split.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ("ultralytics", "onnx", "onnxruntime", "onnxslim")
SCALES = ("n", "s", "m")  # narrowest first; the widest no slower than the target is trained


def ensure_env(folder: Path, say=print) -> Path:
    """The rival's environment (made once, ~75 s and ~6 GB here); its python."""
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    if stamp.is_file():
        return python
    say(f"ultralytics environment: {folder} (its own torch; a few minutes, several GB)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    versions = subprocess.run([str(python), "-m", "pip", "freeze"], check=True,
                              capture_output=True, text=True).stdout
    stamp.write_text("".join(line + "\n" for line in versions.splitlines()
                             if line.split("==")[0].lower() in (*PACKAGES, "torch")))
    return python


def versions(env: Path) -> str:
    stamp = env / ".installed"
    return ", ".join(stamp.read_text().split()) if stamp.is_file() else "?"


def job_command(python: Path, *args: str) -> list[str]:
    return [str(python), str(HERE / "ultralytics_job.py"), *args]


def job_env(folder: Path) -> dict[str, str]:
    """Offline, its settings inside the work folder (never the user's home)."""
    return {"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(folder / "config"),
            "MPLBACKEND": "Agg"}


def last_json(log: Path) -> dict:
    """The JSON line ultralytics_job.py prints last."""
    for line in reversed(log.read_text().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{log}: no result line")


def ultralytics_data(data: Path, folder: Path) -> Path:
    """`data` (edgeprune's yolo layout) as ultralytics wants it: an absolute `path:` (it
    resolves a relative one against its own datasets folder, not the YAML's)."""
    import yaml

    spec = yaml.safe_load(data.read_text())
    spec["path"] = str((data.parent / spec.get("path", ".")).resolve())
    out = folder / "data-ultralytics.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def adapt(source: Path, out: Path, names: list[str], imgsz: int) -> Path:
    """ultralytics' detection ONNX -> edgeprune's rows (cx, cy, w, h, 1, class scores), with
    edgeprune's names and input size in its metadata."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from edgeprune.onnxio.serialize import META_IMGSZ, META_NAMES

    model = onnx.load(str(source))
    graph = model.graph
    if len(graph.output) != 1:
        raise ValueError(f"{source}: {len(graph.output)} outputs, expected ultralytics' one")
    raw = graph.output[0].name
    dims = [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    if len(dims) != 3 or dims[1] != 4 + len(names):
        raise ValueError(f"{source}: output {dims} is not (1, 4 + {len(names)} classes, boxes)")
    constants = {"ep_box_start": [0], "ep_box_end": [4], "ep_cls_start": [4],
                 "ep_cls_end": [4 + len(names)], "ep_axis": [2], "ep_one_end": [1]}
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v, np.int64), k)
                             for k, v in constants.items())
    graph.initializer.extend([numpy_helper.from_array(np.zeros((), np.float32), "ep_zero"),
                              numpy_helper.from_array(np.ones((), np.float32), "ep_unit")])
    graph.node.extend([
        helper.make_node("Transpose", [raw], ["ep_t"], perm=[0, 2, 1]),
        helper.make_node("Slice", ["ep_t", "ep_box_start", "ep_box_end", "ep_axis"], ["ep_box"]),
        helper.make_node("Slice", ["ep_t", "ep_cls_start", "ep_cls_end", "ep_axis"], ["ep_cls"]),
        helper.make_node("Slice", ["ep_t", "ep_box_start", "ep_one_end", "ep_axis"], ["ep_x"]),
        # objectness 1 for every box: the class scores alone are the detection scores
        helper.make_node("Mul", ["ep_x", "ep_zero"], ["ep_x0"]),
        helper.make_node("Add", ["ep_x0", "ep_unit"], ["ep_obj"]),
        helper.make_node("Concat", ["ep_box", "ep_obj", "ep_cls"], ["rows"], axis=2),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(
        "rows", onnx.TensorProto.FLOAT, [dims[0], dims[2], 5 + len(names)]))
    del model.metadata_props[:]
    for key, value in ((META_NAMES, json.dumps(names)), (META_IMGSZ, json.dumps([imgsz] * 2))):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def exported_scales(work, python: Path, folder: Path, imgsz: int, names: list[str],
                    scales=SCALES) -> dict[str, Path]:
    """Every scale exported untrained and adapted (to time them against the target)."""
    paths = {}
    for scale in scales:
        out = folder / f"yolov8{scale}-untrained-rows.onnx"
        if not out.is_file():
            log = f"yolov8{scale}-export.log"
            work.run(job_command(python, "export", "--scale", scale, "--imgsz", str(imgsz),
                                 "--out", str(folder)), log, wide=True, env=job_env(folder))
            adapt(Path(last_json(work.root / "logs" / log)["onnx"]), out, names, imgsz)
        paths[scale] = out
    return paths


def widest_within(latency: dict[str, dict], target_ms: float, tolerance: float) -> str:
    """The widest scale no slower than the target (the narrowest when none is)."""
    within = [s for s in SCALES if s in latency
              and latency[s]["median_ms"] <= target_ms * (1 + tolerance)]
    return within[-1] if within else SCALES[0]


def trained(work, python: Path, folder: Path, scale: str, data: Path, epochs: int,
            imgsz: int, names: list[str]) -> dict:
    """YOLOv8 `scale` trained `epochs` on `data`, exported and adapted (reused once done)."""
    done = folder / f"yolov8{scale}-trained.json"
    if done.is_file():
        return json.loads(done.read_text())
    log = f"yolov8{scale}-train.log"
    timing = work.run(job_command(python, "train", "--scale", scale, "--data",
                                  str(ultralytics_data(data, folder)), "--epochs", str(epochs),
                                  "--imgsz", str(imgsz), "--out", str(folder / f"yolov8{scale}")),
                      log,
                      env=job_env(folder))  # one CPU, as every scratch rival
    result = last_json(work.root / "logs" / log)
    rows = adapt(Path(result["onnx"]), folder / f"yolov8{scale}-rows.onnx", names, imgsz)
    info = {**result, "wall_seconds": timing["seconds"], "weights": str(rows),
            "scale": scale, "env": versions(python.parents[1])}
    done.write_text(json.dumps(info, indent=2))
    return info
