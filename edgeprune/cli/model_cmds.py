"""`edgeprune info` and `edgeprune export`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeprune.cli.app import stdout
from edgeprune.cli.options import imgsz_option, load_model_from_options, model_source_options


@click.command()
@click.argument("model")
@click.option("--classes", type=click.IntRange(min=1), help="Class count (built-in names).")
@click.option("--width", type=click.FloatRange(0, 4, min_open=True), default=1.0,
              show_default=True, help="Width multiplier (built-in names).")
@imgsz_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (params, gflops, ...).")
def info(model: str, classes: int | None, width: float, imgsz: str | None,
         as_json: bool) -> None:
    """Layers, parameters, GFLOPs and residual blocks of MODEL.

    MODEL is a built-in name (yolov3, yolov3-tiny, yolov3-spp), a .cfg, a checkpoint (.pt) or
    an .onnx file. GFLOPs count 2 x conv multiply-adds at the input size, as Darknet does.
    """
    from edgeprune.models.summary import summarize

    summary = summarize(model, classes=classes, width=width, imgsz=imgsz)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    from rich.table import Table

    height, width_px = summary.imgsz
    table = Table(title=f"{summary.source}", show_header=False, title_justify="left")
    table.add_row("layers", str(summary.layers))
    table.add_row("parameters", f"{summary.params:,}")
    table.add_row("GFLOPs", f"{summary.gflops:.3f} at {width_px}x{height}")
    table.add_row("classes", str(summary.classes))
    blocks = summary.residual_blocks
    listed = ", ".join(f"{b['index']}:{b['layers'][0]}-{b['layers'][1]}({b['channels']})"
                       for b in blocks)
    table.add_row("residual blocks", f"{len(blocks)}" + (f"  [{listed}]" if blocks else ""))
    stdout.print(table)
    if summary.note:
        stdout.print(f"[dim]{summary.note}[/]")


FORMATS = ("onnx", "darknet", "checkpoint")


@click.command()
@model_source_options
@imgsz_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True,
              help="onnx: one .onnx (checked with ONNX Runtime); darknet: .cfg + .weights + "
              ".names; checkpoint: an edgeprune .pt.")
@click.option("-o", "--output", type=click.Path(), help="Output file (darknet: a folder or a "
              ".cfg path). Default: beside the weights, named after them.")
@click.option("--opset", type=click.IntRange(min=17), default=17, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch size of the traced ONNX graph (the batch axis stays dynamic).")
@click.option("--static-batch", is_flag=True, help="Fix the ONNX batch axis to --batch.")
@click.option("--no-check", is_flag=True, help="Skip the ONNX Runtime vs torch check.")
def export(weights, cfg, names, classes, width, imgsz, fmt, output, opset, batch,
           static_batch, no_check) -> None:
    """Export a model as ONNX, Darknet .cfg/.weights, or an edgeprune checkpoint.

    \b
    edgeprune export --cfg m.cfg --weights m.weights --imgsz 416 --format onnx -o m.onnx
    edgeprune export --weights model.pt --format darknet -o out/
    """
    ckpt = load_model_from_options(weights, cfg, names, classes, width, imgsz)
    stem = Path(weights if weights and Path(weights).suffix else (cfg or weights or "model")).stem
    from rich.table import Table

    table = Table(title=f"export ({fmt})", show_header=False, title_justify="left")
    if fmt == "onnx":
        from edgeprune.export.onnx import export_onnx

        path = Path(output or f"{stem}.onnx")
        result = export_onnx(ckpt.model, path, ckpt.imgsz, ckpt.names, batch=batch,
                             dynamic_batch=not static_batch, opset=opset, check=not no_check)
        table.add_row("onnx", str(path))
        table.add_row("opset", str(opset))
        if result.max_abs_diff is not None:
            table.add_row("ORT vs torch", f"max abs diff {result.max_abs_diff:.2e}")
    elif fmt == "darknet":
        from edgeprune.export.darknet import export_darknet

        written = export_darknet(ckpt, output or ".", stem)
        for kind, path in written.items():
            table.add_row(kind, str(path))
    else:
        from edgeprune.models import save_checkpoint

        path = save_checkpoint(ckpt, output or f"{stem}.pt")
        table.add_row("checkpoint", str(path))
    height, width_px = ckpt.imgsz
    table.add_row("input", f"{width_px}x{height}")
    table.add_row("classes", f"{len(ckpt.names)}")
    stdout.print(table)
