"""`edgeprune val` on a Darknet model and Darknet lists agrees with an independent pipeline.

The independent side shares no code with edgeprune's Detector or evaluator: OpenCV's own Darknet
reader runs the .cfg/.weights, the letterbox and its inverse are written here from scratch,
NMS is OpenCV's per-class NMS, and mAP comes from pycocotools' own COCO/loadRes/COCOeval.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.export.opencv_check import opencv_has_darknet
from edgeprune.models import load_checkpoint
from edgeprune.models.darknet_files import export_darknet
from tests.datagen_helpers import trained_model

pytestmark = pytest.mark.skipif(not opencv_has_darknet(),
                                reason="this OpenCV has no Darknet reader (needs < 5)")


def darknet_list_dataset(root: Path, val_set) -> Path:
    """JPEGImages/ + labels/ + val.txt of absolute paths + obj.names + a Darknet .data file."""
    (root / "JPEGImages").mkdir(parents=True)
    (root / "labels").mkdir()
    lines = []
    for sample in val_set.samples:
        image = root / "JPEGImages" / f"{sample.image_path.stem}.jpg"
        cv2.imwrite(str(image), cv2.imread(str(sample.image_path)),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        label = sample.image_path.parent.parent.parent / "labels" / "val" / \
            f"{sample.image_path.stem}.txt"
        shutil.copy(label, root / "labels" / f"{image.stem}.txt")
        lines.append(str(image.resolve()))
    (root / "val.txt").write_text("\n".join(lines) + "\n")
    (root / "obj.names").write_text("".join(f"{n}\n" for n in val_set.names))
    (root / "obj.data").write_text(f"classes = {len(val_set.names)}\nvalid = val.txt\n"
                                   f"names = obj.names\nbackup = backup/\n")
    return root / "obj.data"


def independent_map50(cfg: Path, weights: Path, image_list: Path, names: list[str],
                      size: int) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    # OpenCV zeroes class scores under the [yolo] layer's `thresh` (default 0.2); mAP needs
    # them down to 0.001, as Darknet's own `detector map` lowers its threshold.
    low_threshold = cfg.with_name("opencv-map.cfg")
    low_threshold.write_text(cfg.read_text().replace("[yolo]\n", "[yolo]\nthresh=0.0005\n"))
    net = cv2.dnn.readNetFromDarknet(str(low_threshold), str(weights))
    images, annotations, results = [], [], []
    for image_id, line in enumerate(image_list.read_text().split(), start=1):
        picture = cv2.imread(line)
        height, width = picture.shape[:2]
        images.append({"id": image_id, "width": width, "height": height})
        label = Path(line).parent.parent / "labels" / f"{Path(line).stem}.txt"
        for row in np.loadtxt(label, ndmin=2):
            cls, cx, cy, w, h = row
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(cls), "iscrowd": 0,
                                "bbox": [(cx - w / 2) * width, (cy - h / 2) * height,
                                         w * width, h * height], "area": w * width * h * height})
        # letterbox: one scale, centred, grey 114 border
        ratio = min(size / height, size / width)
        new_w, new_h = round(width * ratio), round(height * ratio)
        left, top = (size - new_w) // 2, (size - new_h) // 2
        canvas = np.full((size, size, 3), 114, np.uint8)
        canvas[top:top + new_h, left:left + new_w] = cv2.resize(picture, (new_w, new_h))
        blob = cv2.dnn.blobFromImage(canvas, 1 / 255.0, swapRB=True)
        net.setInput(blob)
        rows = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()))
        xywh = rows[:, :4] * size
        for cls in range(len(names)):
            scores = rows[:, 5 + cls]  # OpenCV: objectness x class probability already
            keep = np.nonzero(scores > 0.001)[0]
            corner = np.column_stack([xywh[keep, :2] - xywh[keep, 2:] / 2, xywh[keep, 2:]])
            chosen = cv2.dnn.NMSBoxes(corner.tolist(), scores[keep].tolist(), 0.001, 0.6)
            for k in np.asarray(chosen, dtype=int).reshape(-1):
                x, y, w, h = corner[k]
                x1 = np.clip((x - left) / ratio, 0, width)
                y1 = np.clip((y - top) / ratio, 0, height)
                x2 = np.clip((x + w - left) / ratio, 0, width)
                y2 = np.clip((y + h - top) / ratio, 0, height)
                results.append({"image_id": image_id, "category_id": cls,
                                "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "score": float(scores[keep][k])})
    truth = COCO()
    truth.dataset = {"images": images, "annotations": annotations,
                     "categories": [{"id": i, "name": n} for i, n in enumerate(names)]}
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.params.maxDets = [1, 10, 300]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[1])  # AP at IoU 0.5, all areas, maxDets 300


@pytest.mark.parametrize("architecture", [
    ("yolov3-tiny", 0.25, 12),  # conv, maxpool (Darknet's asymmetric padding), route, upsample
    pytest.param(("yolov3", 0.25, 20), marks=pytest.mark.slow),  # shortcuts, three heads
], ids=["yolov3-tiny", "yolov3"])
def test_darknet_model_on_darknet_lists_matches_opencv_pipeline(architecture, tmp_path,
                                                                tmp_path_factory, monkeypatch):
    result, _, val_set = trained_model(tmp_path_factory.mktemp("trained"), *architecture)
    files = export_darknet(load_checkpoint(result.best), tmp_path / "model", "model")
    data = darknet_list_dataset(tmp_path / "ucsd-like", val_set)
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(main, ["val", "--data", str(data), "--cfg", str(files["cfg"]),
                                    "--weights", str(files["weights"]), "--json"])
    assert run.exit_code == 0, run.output
    ours = json.loads(run.output)
    theirs = independent_map50(files["cfg"], files["weights"], data.parent / "val.txt",
                               val_set.names, 96)
    assert ours["images"] == len(val_set) and ours["instances"] > 0
    assert theirs > 0.2, "the briefly trained model should detect something"
    assert ours["map50"] == pytest.approx(theirs, abs=0.02)
