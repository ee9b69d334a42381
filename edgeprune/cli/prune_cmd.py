"""`edgeprune prune`: apply a PruneSpec to a model and write the smaller model."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.cli.options import imgsz_option, load_model_from_options, model_source_options
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape

FORMATS = ("checkpoint", "darknet")


def _block_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    if not value:
        return []
    try:
        return [int(part) for part in value.replace(" ", "").split(",") if part]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected block indices like 3,5,7") from None


@click.command()
@model_source_options
@imgsz_option()
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Prune spec (.yaml or .json): drop_blocks, ratios, default_ratio, round_to, "
              "min_channels.")
@click.option("--uniform", type=click.FloatRange(0, 1, min_open=True),
              help="Keep this fraction of every prunable channel set (sets the spec's "
              "default_ratio).")
@click.option("--drop-blocks", callback=_block_list,
              help="Residual blocks to drop, e.g. 3,5,7 (added to the spec's; see "
              "`edgeprune info MODEL` for the numbering).")
@click.option("--round-to", type=click.IntRange(min=1),
              help="Round kept channels to a multiple of this [spec's, else 8; 1 allowed].")
@click.option("--min-channels", type=click.IntRange(min=1),
              help="Never keep fewer channels than this [spec's, else 8].")
@click.option("--importance", default="l1", show_default=True,
              help="Channel importance criterion: l1, l2, bn_scale or random.")
@click.option("--recal-batches", type=click.IntRange(min=0), default=0, show_default=True,
              help="Re-estimate batch-norm statistics on N training batches of --data.")
@click.option("--data", type=click.Path(), help="Dataset YAML for --recal-batches.")
@click.option("--recal-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per recalibration batch.")
@deprecated_alias("--batch-size", "--recal-batch", type=click.IntRange(min=1))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="checkpoint",
              show_default=True, help="checkpoint: an edgeprune .pt; darknet: .cfg + .weights "
              "+ .names in a folder.")
@click.option("-o", "--output", type=click.Path(),
              help="Output .pt (darknet: a folder). Default: inside the run folder.")
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root of run folders; the spec and report go to OUT/prune/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
def prune(weights, cfg, names, classes, width, imgsz, spec_path, uniform, drop_blocks,
          round_to, min_channels, importance, recal_batches, data, recal_batch, fmt, output,
          out_root, name) -> None:
    """Prune a model: drop residual blocks and keep the most important channels.

    \b
    edgeprune prune --weights base.pt --spec spec.yaml -o pruned.pt
    edgeprune prune --weights base.pt --uniform 0.5 --recal-batches 20 --data data.yaml
    edgeprune prune --weights base.pt --drop-blocks 3,5,7 --format darknet -o out/

    Channels joined by shortcuts are pruned together, routes are sliced to match, and yolo
    heads keep their outputs. The run folder gets the spec used (spec.yaml) and the
    before/after counts per layer (report.json).
    """
    from edgeprune.errors import EdgepruneError
    from edgeprune.prune import PruneSpec, get_importance, load_spec, prune_checkpoint

    if recal_batches and not data:
        raise click.UsageError("--recal-batches needs --data (a dataset YAML)")
    if data and not recal_batches:
        raise click.UsageError("--data is only read for BN recalibration: add --recal-batches N")
    spec = load_spec(spec_path) if spec_path else PruneSpec(source="command line")
    overrides = {key: value for key, value in (("default_ratio", uniform),
                                                ("round_to", round_to),
                                                ("min_channels", min_channels))
                 if value is not None}
    if drop_blocks:
        overrides["drop_blocks"] = spec.drop_blocks + tuple(drop_blocks)
    if overrides and spec_path:
        overrides["source"] = f"{spec_path} with command-line options"
    spec = spec.replace(**overrides)
    if spec.is_empty:
        raise EdgepruneError("nothing to prune: give --spec, --uniform or --drop-blocks")
    criterion = get_importance(importance)
    base = load_model_from_options(weights, cfg, names, classes, width, imgsz)

    with stdout.status("pruning..."):
        pruned = prune_checkpoint(base, spec, criterion, base=str(weights or cfg))
    if recal_batches:
        used = _recalibrate(pruned, data, recal_batch, recal_batches)
        pruned.provenance["bn_recalibration"] = {"data": str(data), "batches": used,
                                                 "batch_size": recal_batch}
    from edgeprune.runs import new_run_dir

    _write(new_run_dir("prune", name, out_root), base, pruned, spec, fmt, output)


def _recalibrate(ckpt, data: str, batch_size: int, num_batches: int) -> int:
    from rich.progress import Progress

    from edgeprune.data.batches import image_batches
    from edgeprune.prune.recalibrate import recalibrate_bn

    batches = image_batches(data, ckpt.imgsz, batch_size, num_batches, split="train", seed=0)
    with Progress(console=stdout, transient=True) as progress:
        task = progress.add_task("BN recalibration", total=num_batches)
        return recalibrate_bn(ckpt.model, batches, num_batches,
                              progress=lambda done: progress.update(task, completed=done))


def _write(run: Path, base, pruned, spec, fmt: str, output: str | None) -> None:
    import json

    from edgeprune.atomic import atomic_write_text
    from edgeprune.prune import plan_pruning, save_spec
    from edgeprune.prune.report import prune_report

    report = prune_report(plan_pruning(base.model.cfg, spec), base.imgsz)
    save_spec(spec, run / "spec.yaml")
    atomic_write_text(run / "report.json", json.dumps(report.to_json(), indent=1) + "\n")
    if fmt == "darknet":
        from edgeprune.models.darknet_files import export_darknet

        written = list(export_darknet(pruned, output or run, "pruned").values())
    else:
        from edgeprune.models import save_checkpoint

        written = [save_checkpoint(pruned, output or run / "pruned.pt")]
    _print_report(report, spec, written, run)


def _ratio(before: float, after: float) -> str:
    return f"{after / before:.3f}x" if before else "-"


def _print_report(report, spec, written: list[Path], run: Path) -> None:
    from rich import box
    from rich.table import Table

    layers = Table(title="changed layers (before -> after)", title_justify="left",
                   box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("layer", "new", "type", "in", "out", "params", "MFLOPs"):
        layers.add_column(column, justify="left" if column == "type" else "right")
    dropped_layers = {i for b in report.dropped_blocks for i in b.layers}
    for block in report.dropped_blocks:
        layers.add_row(f"{block.start}-{block.end}", "-", f"block {block.index}", "", "",
                       "dropped", "dropped")
    for row in report.layers:
        if not row.changed or row.index in dropped_layers:
            continue
        conv = row.kind == "convolutional"
        layers.add_row(str(row.index), str(row.new_index), "conv" if conv else row.kind,
                       f"{row.in_before}->{row.in_after}" if conv else "",
                       f"{row.out_before}->{row.out_after}",
                       f"{row.params_before:,}->{row.params_after:,}" if conv else "",
                       f"{row.flops_before / 1e6:.1f}->{row.flops_after / 1e6:.1f}"
                       if conv else "")
    stdout.print(layers)

    height, width = report.imgsz
    summary = Table(title=f"prune: {run}", title_justify="left")
    for column in ("", "before", "after", "ratio"):
        summary.add_column(column, justify="left" if not column else "right")
    summary.add_row("parameters", f"{report.params_before:,}", f"{report.params_after:,}",
                    _ratio(report.params_before, report.params_after))
    summary.add_row(f"GFLOPs at {width}x{height}", f"{report.gflops_before:.3f}",
                    f"{report.gflops_after:.3f}",
                    _ratio(report.gflops_before, report.gflops_after))
    summary.add_row("layers", str(report.layers_before), str(report.layers_after), "")
    stdout.print(summary)
    stdout.print(f"spec hash {spec.hash[:16]}; dropped blocks: "
                 f"{', '.join(str(b.index) for b in report.dropped_blocks) or 'none'}")
    for path in written:
        stdout.print(f"wrote {escape(path)}", highlight=False)
