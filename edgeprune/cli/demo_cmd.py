"""`edgeprune demo`: the whole chain on the embedded default, on a machine with nothing."""

from __future__ import annotations

import click

from edgeprune.cli.app import stdout

ROBOMASTER_CLASSES = ["red_armor", "red_robot", "blue_robot", "dead_robot", "blue_armor"]


@click.command()
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root folder; the run goes to OUT/demo/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
@click.option("--imgsz", type=click.IntRange(min=32), default=320, show_default=True)
@click.option("--width", type=click.FloatRange(0, 4, min_open=True), default=0.25,
              show_default=True, help="Width multiplier of the demo yolov3.")
def demo(out_root: str, name: str, imgsz: int, width: float) -> None:
    """Build a small yolov3, export it (checkpoint, ONNX, Darknet), check every export.

    The ONNX file is checked against torch with ONNX Runtime, and the Darknet files against
    OpenCV's independent Darknet reader on the same image.
    """
    import numpy as np
    from rich.table import Table

    from edgeprune.export.darknet import export_darknet
    from edgeprune.export.onnx import export_onnx
    from edgeprune.export.opencv_check import (
        compare_detections,
        opencv_darknet_detections,
        opencv_has_darknet,
    )
    from edgeprune.models import Checkpoint, create, load_checkpoint, save_checkpoint
    from edgeprune.models.summary import summarize_cfg
    from edgeprune.runs import new_run_dir
    from edgeprune.runtime.postprocess import decode_rows

    run = new_run_dir("demo", name, out_root)
    model = create("yolov3", num_classes=len(ROBOMASTER_CLASSES), width=width, imgsz=imgsz)
    ckpt = Checkpoint(model, ROBOMASTER_CLASSES, (imgsz, imgsz), {"builtin": "yolov3",
                                                                  "width": width})
    save_checkpoint(ckpt, run / "model.pt")
    reloaded = load_checkpoint(run / "model.pt")
    onnx_result = export_onnx(reloaded.model, run / "model.onnx", (imgsz, imgsz),
                              ROBOMASTER_CLASSES)
    darknet = export_darknet(reloaded, run / "darknet", "model")

    table = Table(title=f"edgeprune demo: {run}", show_header=False, title_justify="left")
    summary = summarize_cfg(model.cfg, (imgsz, imgsz), "yolov3")
    table.add_row("model", f"yolov3 width {width}, {len(ROBOMASTER_CLASSES)} classes, "
                  f"{imgsz}x{imgsz}")
    table.add_row("parameters", f"{summary.params:,}")
    table.add_row("GFLOPs", f"{summary.gflops:.3f}")
    table.add_row("residual blocks", str(len(summary.residual_blocks)))
    table.add_row("checkpoint", str(run / "model.pt"))
    table.add_row("onnx", f"{onnx_result.path} (ORT vs torch max abs diff "
                  f"{onnx_result.max_abs_diff:.1e})")
    table.add_row("darknet", f"{darknet['cfg']}, {darknet['weights']}")
    if opencv_has_darknet():
        import onnxruntime as ort

        image = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
        session = ort.InferenceSession(str(onnx_result.path), providers=["CPUExecutionProvider"])
        ours = decode_rows(session.run(None, {"images": image})[0][0], conf_threshold=0.3)
        theirs = opencv_darknet_detections(darknet["cfg"], darknet["weights"], image,
                                           conf_threshold=0.3)
        agreement = compare_detections(ours, theirs)
        verdict = "agree" if agreement.agrees() else "DISAGREE"
        table.add_row("OpenCV Darknet reader", f"{verdict}: {agreement.count_a} vs "
                      f"{agreement.count_b} detections, max box diff "
                      f"{agreement.max_box_diff:.2g}px, max score diff "
                      f"{agreement.max_score_diff:.2g}")
    else:
        table.add_row("OpenCV Darknet reader", "not available (opencv-python-headless>=5)")
    stdout.print(table)
