"""`edgeprune val` (mAP on a dataset split) and `edgeprune predict` (draw detections)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeprune.cli.options import (
    bad_data_option,
    build_detector,
    check_out_or_name,
    detector_options,
)
from edgeprune.cli.tables import class_table
from edgeprune.cli.terminal import stderr, stdout
from edgeprune.console import escape


@click.command()
@click.option("--data", required=True, help="Dataset YAML.")
@detector_options
@click.option("--split", default="val", show_default=True,
              type=click.Choice(["train", "val", "test"]))
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--conf", type=click.FloatRange(0, 1), default=0.001, show_default=True,
              help="Confidence threshold (low for mAP).")
@click.option("--iou", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              help="NMS IoU threshold.")
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="Evaluate a fixed random subset of this many images.")
@bad_data_option("stop", "Default stop: a score is computed on the images and boxes asked "
                 "for, or not at all.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--name", default="exp", show_default=True,
              help="results.json goes to runs/val/NAME.")
def val(data, weights, cfg, names_file, imgsz, runtime, torch_device, split, batch, conf, iou,
        max_images, bad_data, as_json, name) -> None:
    """mAP@0.5 and mAP@0.5:0.95 (COCO, pycocotools) of a model on a dataset split.

    Runs the same Detector as `predict` and the robot: letterbox, inference, class-aware NMS,
    boxes in original image coordinates. Ignore regions (VOC `ignore`) are neither misses nor
    false positives.

    \b
    edgeprune val --data robomaster.yaml --weights runs/train/exp/best.pt
    edgeprune val --data ucsd.yaml --cfg yolov3.cfg --weights yolov3.weights --json
    edgeprune val --data robomaster.yaml --weights model.onnx --split test
    """
    from edgeprune.data import load_dataset
    from edgeprune.data.bad_data import refuse_bad_data, report_skipped
    from edgeprune.errors import EdgepruneError
    from edgeprune.eval.evaluate import evaluate
    from edgeprune.runs import new_run

    dataset = load_dataset(data, split).require_usable()
    detector = build_detector(weights, cfg, names_file, imgsz, runtime, torch_device,
                              conf_threshold=conf, iou_threshold=iou, multi_label=True)
    if len(detector.names) != len(dataset.names):  # which explains classes out of range
        raise EdgepruneError(f"{weights}: the model has {len(detector.names)} classes, "
                             f"{data} has {len(dataset.names)}")
    refuse_bad_data([dataset], bad_data)
    if names_file is None:
        detector.names = list(dataset.names)
    from rich.progress import Progress

    with Progress(console=stdout, transient=True,
                  disable=as_json or not stdout.is_terminal) as progress:
        task = progress.add_task(f"val {split}", total=min(len(dataset), max_images or
                                                           len(dataset)))
        result = evaluate(detector, dataset, batch_size=batch, map_thresholds=False,
                          max_images=max_images, on_batch=lambda n: progress.advance(task, n))
    report = {"data": str(data), "split": split, "weights": str(weights),
              "problems": len(dataset.problems), **result.to_json()}
    from edgeprune.atomic import atomic_write_text

    with new_run("val", name) as run:
        atomic_write_text(run / "results.json", json.dumps(report, indent=2))
    if as_json:
        report_skipped([dataset], run, stderr)  # stdout is the report alone
        click.echo(json.dumps(report, indent=2))
        return
    stdout.print(class_table(result, f"val: {weights} on {data} ({split})"))
    stdout.print(f"{result.images_per_second:.1f} images/s in the detector "
                 f"({escape(detector.runtime.describe())}, "
                 f"{detector.imgsz[1]}x{detector.imgsz[0]}, batch {batch}); "
                 f"{result.seconds:.1f} s in all; results: {escape(run / 'results.json')}",
                 highlight=False)
    report_skipped([dataset], run, stdout)


@click.command()
@detector_options
@click.option("--source", required=True, type=click.Path(exists=True),
              help="An image file or a folder of images.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for the drawn images. Default: runs/predict/NAME.")
@click.option("--name", default="exp", show_default=True)
@click.option("--conf", type=click.FloatRange(0, 1), default=0.25, show_default=True)
@click.option("--iou", type=click.FloatRange(0, 1), default=0.45, show_default=True)
@click.option("--max-det", type=click.IntRange(min=1), default=300, show_default=True)
def predict(weights, cfg, names_file, imgsz, runtime, torch_device, source, out_dir, name,
            conf, iou, max_det) -> None:
    """Detect objects in images and save copies with boxes, class names and scores drawn.

    Also writes predictions.json: per image, boxes (x1, y1, x2, y2 pixels), scores, classes.

    \b
    edgeprune predict --weights best.pt --source photos/ --out runs/predict/photos
    """
    from rich.table import Table

    from edgeprune.atomic import atomic_write_text
    from edgeprune.data.images import is_image_path
    from edgeprune.errors import EdgepruneError
    from edgeprune.runs import new_run

    check_out_or_name(out_dir)
    source = Path(source)
    paths = ([source] if source.is_file()
             else sorted(p for p in source.iterdir() if p.is_file() and is_image_path(p)))
    if not paths:
        raise EdgepruneError(f"{source}: no images found")
    detector = build_detector(weights, cfg, names_file, imgsz, runtime, torch_device,
                              conf_threshold=conf, iou_threshold=iou, max_detections=max_det)
    with new_run("predict", name, folder=out_dir) as out:
        records, counts, unreadable, seconds = _draw_all(paths, detector, out)
        if not records:
            raise EdgepruneError(f"{source}: none of the {len(paths)} image(s) could be read "
                                 f"(first: {unreadable[0]})")
    atomic_write_text(out / "predictions.json", json.dumps(records, indent=1))
    table = Table(title=f"predict: {escape(out)}", show_header=False, title_justify="left")
    table.add_row("images", str(len(records)))
    table.add_row("detections", escape(", ".join(
        f"{n} {c}" for n, c in zip(detector.names, counts, strict=True) if c) or "none"))
    table.add_row("speed", f"{len(records) / seconds:.1f} images/s ({detector.runtime.describe()}"
                  f", {detector.imgsz[1]}x{detector.imgsz[0]})" if seconds else "-")
    table.add_row("output", f"{escape(out)} (drawn images, predictions.json)")
    if unreadable:
        stdout.print(f"[yellow]{len(unreadable)} unreadable image(s) skipped[/] (first: "
                     f"{escape(unreadable[0])})", highlight=False)
    stdout.print(table)


def _draw_all(paths: list[Path], detector, out: Path
              ) -> tuple[list[dict], list[int], list[str], float]:
    """Detect in every image and save it drawn into `out`: (records, boxes per class,
    unreadable images' errors, seconds in the detector)."""
    import time

    import cv2
    from rich.progress import track

    from edgeprune.atomic import atomic_write_bytes
    from edgeprune.data.images import read_image
    from edgeprune.errors import EdgepruneError
    from edgeprune.runtime.draw import draw_detections

    records, counts, unreadable = [], [0] * len(detector.names), []
    seconds = 0.0
    for path in track(paths, description="predict", console=stdout, transient=True,
                      disable=not stdout.is_terminal):
        try:
            image = read_image(path)
        except EdgepruneError as exc:  # no ground truth to get wrong: name it and go on
            unreadable.append(str(exc))
            continue
        began = time.perf_counter()
        found = detector(image)[0]
        seconds += time.perf_counter() - began
        suffix = path.suffix if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") \
            else ".jpg"
        ok, encoded = cv2.imencode(suffix, draw_detections(image, found, detector.names))
        if not ok:
            raise EdgepruneError(f"{path}: could not encode the drawn image")
        atomic_write_bytes(out / f"{path.stem}{suffix}", encoded.tobytes())
        for class_id in found.class_ids:
            counts[class_id] += 1
        records.append({"image": str(path), "boxes": found.boxes.round(2).tolist(),
                        "scores": found.scores.round(4).tolist(),
                        "classes": [detector.names[c] for c in found.class_ids]})
    return records, counts, unreadable, seconds
