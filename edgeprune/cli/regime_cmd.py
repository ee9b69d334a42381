"""`edgeprune regime`: whether pruning can pay for this base on this device, checked."""

from __future__ import annotations

import json

import click

from edgeprune.cli.options import device_options
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.command()
@click.option("--weights", "-w", required=True, help="The base checkpoint (.pt), with its "
              "training run folder around it (plateau.json, results.csv).")
@click.option("--data", help="Dataset YAML the base and --tiny are scored on (val split). "
              "Default: the base's training data (provenance).")
@click.option("--tiny", type=click.Path(dir_okay=False),
              help="A yolov3-tiny trained from scratch on the same data for the same epochs "
              "(`edgeprune scratch --model yolov3-tiny --width 1 --epochs N`). Without it, "
              "check (c) is not made.")
@click.option("--val-images", type=click.IntRange(min=1), default=None,
              help="Score on a fixed random subset of this many val images.")
@device_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root of run folders; the report goes to OUT/regime/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
def regime(weights, data, tiny, val_images, device, precision, ort_threads, token,
           latency_cache, no_latency_cache, protocol_items, as_json, out_root, name) -> None:
    """Check that pruning can pay for base WEIGHTS on --device before comparing anything.

    \b
    (a) converged: its training stopped by the plateau rule (train --plateau N);
    (b) latency follows compute: a uniform keep-0.5 prune (about 4x fewer FLOPs) runs at
        least 2.5x faster, measured interleaved with the base;
    (c) the base beats yolov3-tiny from scratch (--tiny) by at least 5 points mAP@0.5;
    (d) where yolov3-tiny's measured latency sits against 2x and 4x targets.

    \b
    edgeprune regime --weights runs/train/base/best.pt --device cpu --ort-threads 1 \\
        --tiny runs/scratch/tiny/best.pt

    Exits 1 when a check fails, saying which and what to change (a wider base, a larger
    input, fewer threads, longer training); writes regime.json and regime.md.
    """
    import sys

    from edgeprune.atomic import atomic_write_text
    from edgeprune.cli.options import open_meter
    from edgeprune.errors import EdgepruneError
    from edgeprune.eval.evaluate import Evaluator, subset
    from edgeprune.models import builtin_cfg, load_checkpoint
    from edgeprune.runs import new_run
    from edgeprune.runtime.detector import Detector
    from edgeprune.search import regime as checks

    base = load_checkpoint(weights)
    data = data or base.provenance.get("data")
    if not data:
        raise EdgepruneError(f"--data is required ({weights} does not record its data)")
    size = base.imgsz
    meter = open_meter(device, precision, ort_threads, token, latency_cache,
                       no_latency_cache, protocol_items, size)
    try:
        report = checks.RegimeReport(str(weights), meter.describe())
        report.checks.append(checks.converged(weights))
        with stdout.status("timing a uniform keep-0.5 prune against the base..."):
            report.checks.append(checks.follows_compute(meter, base.model.cfg, size))
        from edgeprune.data import load_dataset

        val = load_dataset(data, "val").require_usable()
        evaluator = Evaluator(subset(val, val_images, 0) if val_images else val)

        def score(checkpoint) -> float:
            return float(evaluator(Detector(checkpoint.model, imgsz=size,
                                            names=list(checkpoint.names))).map50)

        tiny_ckpt = load_checkpoint(tiny) if tiny else None
        with stdout.status("scoring the base (and yolov3-tiny) on val..."):
            base_map = score(base)
            tiny_map = score(tiny_ckpt) if tiny_ckpt else None
        epochs = (f"{trained_epochs(weights)} and {trained_epochs(tiny)} epochs trained"
                  if tiny_ckpt else "")
        report.checks.append(checks.beats_tiny(base_map, tiny_map, epochs))
        tiny_cfg = tiny_ckpt.model.cfg if tiny_ckpt else builtin_cfg(
            "yolov3-tiny", num_classes=len(base.names), imgsz=size[0])
        with stdout.status("timing yolov3-tiny against the base..."):
            report.checks.append(checks.tiny_against_targets(meter, tiny_cfg))
    finally:
        meter.close()
    with new_run("regime", name, out_root) as run:
        atomic_write_text(run / "regime.json", json.dumps(report.to_json(), indent=2))
        atomic_write_text(run / "regime.md", _markdown(report))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print(report, run)
    if not report.passed:
        sys.exit(1)


def _markdown(report) -> str:
    lines = [f"# Regime of {report.base}", "", f"Device: {report.device}", "",
             "| check | measured | result | why |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.measured} | {c.mark()} | {c.reason} |" for c in report.checks]
    return "\n".join(lines) + "\n"


def _print(report, run) -> None:
    from rich.table import Table

    table = Table(title=f"regime: {escape(report.base)} on {escape(report.device)}",
                  title_justify="left")
    for column in ("check", "measured", "result"):
        table.add_column(column)
    colours = {True: "green", False: "bold red", None: "yellow"}
    for check in report.checks:
        table.add_row(check.name, escape(check.measured),
                      f"[{colours[check.passed]}]{check.mark()}[/]")
    stdout.print(table)
    for check in report.checks:
        if check.passed is not True:
            stdout.print(f"[{colours[check.passed]}]{check.name}:[/] {escape(check.reason)}",
                         highlight=False)
    verdict = ("[bold green]this regime passes: comparisons made in it mean something[/]"
               if report.passed else "[bold red]this regime fails a check: pruning results "
               "taken here will not carry over to a user's[/]")
    stdout.print(verdict)
    stdout.print(f"wrote {escape(run / 'regime.md')}", highlight=False)


def trained_epochs(weights) -> str:
    """The epochs a checkpoint was trained (its run's results.csv beside it, a plateau stop
    included; else its planned epochs), '?' when neither is recorded."""
    from edgeprune.errors import EdgepruneError
    from edgeprune.train.finetune import base_epochs

    try:
        return str(base_epochs(weights)[0])
    except EdgepruneError:
        return "?"
