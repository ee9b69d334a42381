"""Runs INSIDE the ultralytics rival's own environment (never edgeprune's: ultralytics is AGPL
and brings its own torch): builds a YOLOv8 scale from its YAML (no weights downloaded), and
either exports it untrained to ONNX (to time the scales) or trains it and exports its best.

    ENV/bin/python ultralytics_job.py export --scale n --imgsz 160 --out DIR
    ENV/bin/python ultralytics_job.py train --scale n --data data.yaml --epochs 45 \
        --imgsz 160 --out DIR

The caller sets YOLO_OFFLINE=1 and YOLO_CONFIG_DIR (../shared/notes/ultralytics-rival.md).
Prints one JSON line at the end: the ONNX path and, after training, epochs and seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def export(model, imgsz: int, out: Path, name: str) -> Path:
    # opset 17: what edgeprune's onnxruntime runs; simplify so Slice/Concat fold away
    written = Path(model.export(format="onnx", imgsz=imgsz, opset=17, simplify=True,
                                dynamic=False, batch=1))
    target = out / f"{name}.onnx"
    shutil.copyfile(written, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=("export", "train"))
    parser.add_argument("--scale", default="n", help="n, s, m, l or x")
    parser.add_argument("--imgsz", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from ultralytics import YOLO

    args.out.mkdir(parents=True, exist_ok=True)
    name = f"yolov8{args.scale}"
    if args.action == "export":
        path = export(YOLO(f"{name}.yaml"), args.imgsz, args.out, f"{name}-untrained")
        print(json.dumps({"onnx": str(path)}))
        return
    last = args.out / "train" / "weights" / "last.pt"
    began = time.perf_counter()
    common = {"data": str(args.data), "epochs": args.epochs, "imgsz": args.imgsz,
              "batch": 16, "workers": 1, "device": "cpu", "plots": False, "amp": False,
              "seed": args.seed, "deterministic": True, "project": str(args.out),
              "name": "train", "exist_ok": True, "verbose": False}
    if last.is_file():  # an interrupted training continues where it stopped
        YOLO(str(last)).train(resume=True)
    else:
        YOLO(f"{name}.yaml").train(**common)
    seconds = time.perf_counter() - began
    best = args.out / "train" / "weights" / "best.pt"
    path = export(YOLO(str(best)), args.imgsz, args.out, name)
    rows = (args.out / "train" / "results.csv").read_text().strip().splitlines()
    print(json.dumps({"onnx": str(path), "epochs": len(rows) - 1, "seconds": seconds}))


if __name__ == "__main__":
    main()
