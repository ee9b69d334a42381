"""`edgeprune info` and `edgeprune export`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.cli.options import imgsz_option, load_model_from_options, model_source_options
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.command()
@click.argument("model")
@click.option("--classes", type=click.IntRange(min=1), help="Class count (built-in names).")
@click.option("--width", type=click.FloatRange(0, 4, min_open=True), default=1.0,
              show_default=True, help="Width multiplier (built-in names).")
@imgsz_option()
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
    table = Table(title=escape(summary.source), show_header=False, title_justify="left")
    table.add_row("layers", str(summary.layers))
    table.add_row("parameters", f"{summary.params:,}")
    table.add_row("GFLOPs", f"{summary.gflops:.3f} at {width_px}x{height}")
    table.add_row("classes", str(summary.classes))
    blocks = summary.residual_blocks
    listed = ", ".join(f"{b['index']}:{b['layers'][0]}-{b['layers'][1]}({b['channels']})"
                       for b in blocks)
    table.add_row("residual blocks", f"{len(blocks)}" + (escape(f"  [{listed}]") if blocks else ""))
    stdout.print(table)
    if summary.note:
        stdout.print(f"[dim]{escape(summary.note)}[/]")


FORMATS = ("onnx", "darknet", "checkpoint", "engine")


@click.command()
@model_source_options
@imgsz_option()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True,
              help="onnx: one .onnx (checked with ONNX Runtime); darknet: .cfg + .weights + "
              ".names; checkpoint: an edgeprune .pt; engine: a TensorRT engine for this "
              "machine's GPU, with a .json sidecar.")
@click.option("-o", "--output", type=click.Path(), help="Output file (darknet: a folder or a "
              ".cfg path). Default: beside the weights, named after them.")
@click.option("--opset", type=click.IntRange(min=17), default=17, show_default=True)
@click.option("--input-batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch dimension of the traced ONNX graph's input (the batch axis stays "
              "dynamic); engine: the largest batch it accepts (1..N, tuned for N).")
@deprecated_alias("--batch", "--input-batch", type=click.IntRange(min=1))
@click.option("--static-batch", is_flag=True, help="Fix the ONNX batch axis to "
              "--input-batch.")
@click.option("--no-check", is_flag=True, help="Skip the ONNX Runtime vs torch check.")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32",
              show_default=True, help="engine: kernel precision, as --precision of the latency "
              "verbs: fp16 (float32 input and output), int8 (fp16 where int8 has no kernel; "
              "calibrated on --calib).")
@deprecated_alias("--half", "--precision", is_flag=True, check=lambda _: "fp16")
@deprecated_alias("--int8", "--precision", is_flag=True, check=lambda _: "int8")
@click.option("--calib", type=click.Path(file_okay=False), help="engine: calibration set "
              "folder for --precision int8 (made by `edgeprune calib make`); TensorRT's "
              "calibration cache is kept there and reused by later builds of the same model.")
@click.option("--calib-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="engine: images per calibration batch.")
@click.option("--workspace", type=click.IntRange(min=1), default=1024, show_default=True,
              help="engine: builder workspace limit in MB.")
@click.option("--timing-cache", type=click.Path(dir_okay=False),
              help="engine: TensorRT timing cache file, read and updated by every build. "
              "Default: ~/.cache/edgeprune/tensorrt-timing.cache (shared with latency).")
@click.option("--skip-if-current", is_flag=True, help="engine: keep an existing engine built "
              "here (same TensorRT, GPU, precision and model) instead of rebuilding it.")
def export(weights, cfg, names, classes, width, imgsz, fmt, output, opset, input_batch,
           static_batch, no_check, precision, calib, calib_batch, workspace, timing_cache,
           skip_if_current) -> None:
    """Export a model as ONNX, Darknet .cfg/.weights, an edgeprune checkpoint or a TensorRT
    engine.

    \b
    edgeprune export --cfg m.cfg --weights m.weights --imgsz 416 --format onnx -o m.onnx
    edgeprune export --weights model.pt --format darknet -o out/
    edgeprune export --weights final.pt --format engine --precision fp16 -o final.engine
    edgeprune export --weights final.onnx --format engine --precision int8 --calib calib/arena
    """
    from edgeprune.errors import EdgepruneError

    engine_only = {f"--precision {precision}": precision != "fp32", "--calib": calib,
                   "--timing-cache": timing_cache, "--skip-if-current": skip_if_current}
    if fmt != "engine" and any(engine_only.values()):
        used = ", ".join(k for k, v in engine_only.items() if v)
        raise EdgepruneError(f"{used}: only for --format engine")
    if fmt == "engine":
        _export_engine(weights, cfg, names, classes, width, imgsz, output, opset, no_check,
                       precision, calib, calib_batch, input_batch, workspace, timing_cache,
                       skip_if_current)
        return
    ckpt = load_model_from_options(weights, cfg, names, classes, width, imgsz)
    stem = _stem(weights, cfg)
    from rich.table import Table

    table = Table(title=f"export ({fmt})", show_header=False, title_justify="left")
    if fmt == "onnx":
        from edgeprune.onnxio.serialize import export_onnx

        path = Path(output or f"{stem}.onnx")
        result = export_onnx(ckpt.model, path, ckpt.imgsz, ckpt.names, batch=input_batch,
                             dynamic_batch=not static_batch, opset=opset, check=not no_check)
        table.add_row("onnx", escape(path))
        table.add_row("opset", str(opset))
        if result.max_abs_diff is not None:
            table.add_row("ORT vs torch", f"max abs diff {result.max_abs_diff:.2e}")
    elif fmt == "darknet":
        from edgeprune.models.darknet_files import export_darknet

        written = export_darknet(ckpt, output or ".", stem)
        for kind, path in written.items():
            table.add_row(kind, escape(path))
    else:
        from edgeprune.models import save_checkpoint

        path = save_checkpoint(ckpt, output or f"{stem}.pt")
        table.add_row("checkpoint", escape(path))
    height, width_px = ckpt.imgsz
    table.add_row("input", f"{width_px}x{height}")
    table.add_row("classes", f"{len(ckpt.names)}")
    stdout.print(table)


def _stem(weights, cfg) -> str:
    return Path(weights if weights and Path(weights).suffix else (cfg or weights or "model")).stem


def _export_engine(weights, cfg, names, classes, width, imgsz, output, opset, no_check,
                   precision, calib, calib_batch, batch, workspace, timing_cache,
                   skip_if_current) -> None:
    from edgeprune.errors import EdgepruneError
    from edgeprune.trt.build import import_cudart, import_tensorrt

    if precision == "int8" and not calib:
        raise EdgepruneError("--precision int8 needs --calib calib/NAME (make one with "
                             "`edgeprune calib make --data DATA -o calib/NAME`)")
    import_tensorrt()  # before the ONNX export: say at once when this machine cannot build
    import_cudart()
    from edgeprune.export.engine import export_engine

    if weights and Path(weights).suffix.lower() == ".onnx":
        onnx_model, model_imgsz, model_names = _read_onnx_for_engine(weights, imgsz, names)
    else:
        from edgeprune.onnxio.serialize import export_onnx

        ckpt = load_model_from_options(weights, cfg, names, classes, width, imgsz)
        onnx_model = export_onnx(ckpt.model, None, ckpt.imgsz, ckpt.names, opset=opset,
                                 check=not no_check).model_bytes
        model_imgsz, model_names = ckpt.imgsz, list(ckpt.names)
    path = Path(output or f"{_stem(weights, cfg)}.engine")
    result = export_engine(onnx_model, path, imgsz=model_imgsz, names=model_names,
                           precision=precision, max_batch=batch, workspace_mb=workspace,
                           timing_cache=timing_cache, calib=calib, calib_batch=calib_batch,
                           source=str(weights or cfg), skip_if_current=skip_if_current,
                           log=lambda message: stdout.print(f"[dim]{escape(message)}[/]"))
    from rich.table import Table

    sidecar = result.sidecar
    table = Table(title="export (engine)", show_header=False, title_justify="left")
    table.add_row("engine", escape(path) + (" (up to date, kept)" if result.skipped else ""))
    table.add_row("sidecar", escape(f"{path}.json"))
    table.add_row("precision", str(sidecar.get("precision")))
    table.add_row("input", f"{model_imgsz[1]}x{model_imgsz[0]}, batch 1..{batch}")
    table.add_row("classes", str(len(model_names)))
    table.add_row("TensorRT", str(sidecar.get("tensorrt_version")))
    table.add_row("GPU", escape((sidecar.get("gpu") or {}).get("name")))
    if not result.skipped:
        table.add_row("build", f"{result.build_seconds:.1f} s")
    calibration = sidecar.get("calibration")
    if calibration:
        reused = " (cache reused)" if calibration.get("cache_reused") else ""
        table.add_row("calibration",
                      escape(f"{calibration['set']}: {calibration['method']}") + reused)
    stdout.print(table)


def _read_onnx_for_engine(path, imgsz, names_file):
    """ONNX bytes, input size and names of an .onnx file (edgeprune's metadata, or --imgsz)."""
    import json

    from edgeprune.errors import EdgepruneError
    from edgeprune.models import parse_imgsz, read_names
    from edgeprune.onnxio.serialize import META_IMGSZ, META_NAMES, read_onnx_metadata

    if not Path(path).is_file():
        raise EdgepruneError(f"{path}: file not found")
    data = Path(path).read_bytes()
    metadata = read_onnx_metadata(data)
    if imgsz is not None:
        size = parse_imgsz(imgsz)
    elif META_IMGSZ in metadata:
        size = tuple(int(v) for v in json.loads(metadata[META_IMGSZ]))
    else:
        raise EdgepruneError(f"{path}: no edgeprune metadata with the input size; pass --imgsz")
    if names_file:
        names = read_names(names_file)
    elif META_NAMES in metadata:
        names = json.loads(metadata[META_NAMES])
    else:
        raise EdgepruneError(f"{path}: no class names in the ONNX metadata; pass --names")
    return data, size, list(names)
