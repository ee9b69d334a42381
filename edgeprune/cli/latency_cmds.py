"""`edgeprune latency MODEL` (measure), `edgeprune latency lut` (lookup table and predictor)."""

from __future__ import annotations

import json

import click

from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.cli.options import (
    device_options,
    imgsz_option,
    load_model_from_options,
    model_source_options,
    open_meter,
)
from edgeprune.cli.terminal import stderr, stdout
from edgeprune.console import escape
from edgeprune.errors import EdgepruneError


class DefaultCommandGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, goes to `default_command`:
    `edgeprune latency yolov3` runs `edgeprune latency measure yolov3`."""

    default_command = "measure"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup)
def latency() -> None:
    """Measure latency on a device: `edgeprune latency MODEL` or `edgeprune latency lut`.

    \b
    edgeprune latency yolov3 --width 0.5 --imgsz 416          # local CPU (robots/cpu.yaml)
    edgeprune latency model.onnx --device jetson-nano --json  # through the Jetson's server
    edgeprune latency lut --weights base.pt --device cpu      # per-layer table + predictor
    """


@latency.command()
@click.argument("model")
@click.option("--classes", type=click.IntRange(min=1), help="Class count (built-in names).")
@click.option("--width", type=click.FloatRange(0, 4, min_open=True), default=1.0,
              show_default=True, help="Width multiplier (built-in names).")
@imgsz_option()
@click.option("--input-batch", type=click.IntRange(min=1),
              help="Batch dimension of the measured input. Default: the profile's.")
@deprecated_alias("--batch", "--input-batch", type=click.IntRange(min=1))
@device_options
@click.option("--json", "as_json", is_flag=True, help="Print the LatencyResult as JSON.")
def measure(model, classes, width, imgsz, input_batch, device, precision, ort_threads, token,
            latency_cache, no_latency_cache, protocol_items, as_json) -> None:
    """Latency of MODEL (.onnx, .pt, .cfg or a built-in name) on --device.

    Warm-up, then timed runs until the median is known to the protocol's precision; results
    are cached per architecture, input shape, precision, backend and device.
    """
    meter = open_meter(device, precision, ort_threads, token, latency_cache,
                       no_latency_cache, protocol_items, imgsz)
    if input_batch:
        meter.batch = input_batch
    try:
        if model.lower().endswith(".onnx"):
            target = model
        else:
            weights, cfg = (None, model) if model.lower().endswith(".cfg") else (model, None)
            target = load_model_from_options(weights, cfg, None, classes, width, None)
        with stderr.status(f"latency of {escape(model)} with {escape(meter.describe())}..."):
            result = meter.measure(target, use_cache=not no_latency_cache)
    finally:
        meter.close()
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    stdout.print(result_table(model, result, meter.latency_budget_ms))


def result_table(title: str, result, budget_ms: float | None):
    from rich.table import Table

    table = Table(title=escape(title), show_header=False, title_justify="left")
    low, high = result.median_ci_ms
    table.add_row("median", f"{result.median_ms:.3f} ms  ({result.ci_level:.0%} CI "
                  f"{low:.3f}-{high:.3f})")
    table.add_row("p90", f"{result.p90_ms:.3f} ms")
    table.add_row("mean +- std", f"{result.mean_ms:.3f} +- {result.std_ms:.3f} ms "
                  f"(cv {result.cv:.1%})")
    table.add_row("runs", f"{result.runs} timed, {result.warmup_runs} warm-up "
                  f"({result.warmup_s:.2f} s), {result.remeasures} re-measure(s)")
    table.add_row("input", f"{'x'.join(map(str, result.input_shape))} {result.precision}")
    table.add_row("backend", f"{result.backend} ({result.backend_version})")
    table.add_row("device", result.device.describe())
    if result.engine_build_s is not None:
        table.add_row("engine build", f"{result.engine_build_s:.1f} s")
    if result.timing_s is not None:
        table.add_row("timing", f"{result.timing_s:.1f} s (warm-up and timed runs)")
    if result.drift:
        drift = result.drift
        verdict = "[red]DRIFT[/]" if drift["detected"] else "stable"
        table.add_row("reference", f"{verdict}: {drift['reference_ms']:.3f} ms vs "
                      f"{drift['reference_baseline_ms']:.3f} ms recorded "
                      f"(x{drift['ratio']:.2f})")
    table.add_row("source", f"cache (measured {result.measured_at})" if result.from_cache
                  else f"measured now in {result.total_s:.1f} s")
    if budget_ms:
        verdict = ("[green]within[/]" if result.median_ms <= budget_ms else "[red]over[/]")
        table.add_row("budget", f"{verdict} {budget_ms:g} ms")
    return table


@latency.command()
@model_source_options
@imgsz_option()
@device_options
@click.option("--grid", default="0.25,0.5,0.75,1.0", show_default=True,
              help="Channel fractions measured for every layer.")
@click.option("--variants", type=click.IntRange(min=0), default=4, show_default=True,
              help="Random width variants measured whole to check the predictor.")
@click.option("--round-to", type=click.IntRange(min=1), default=8, show_default=True,
              help="Channel counts in the table and the variants are multiples of this, as "
              "pruners round them for hardware efficiency.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Results go to OUT/latency-lut/NAME.")
@click.option("--name", default="exp", show_default=True)
def lut(weights, cfg, names, classes, width, imgsz, device, precision, ort_threads, token,
        latency_cache, no_latency_cache, protocol_items, grid, variants, round_to, seed,
        out_root, name) -> None:
    """Per-layer latency table over a grid of widths, and a predictor checked against
    whole-model measurements of pruned variants (NetAdapt style).

    The predictor (lut.json) pre-screens search candidates; rewards use measured latency.
    """
    from rich.progress import Progress
    from rich.table import Table

    from edgeprune.atomic import atomic_write_text
    from edgeprune.latency.lut import build_predictor
    from edgeprune.runs import new_run_dir

    try:
        fractions = tuple(float(v) for v in grid.split(","))
    except ValueError:
        raise EdgepruneError(f"--grid {grid!r}: expected numbers like 0.25,0.5,1") from None
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise EdgepruneError(f"--grid {grid!r}: fractions must be in (0, 1]")
    ckpt = load_model_from_options(weights, cfg, names, classes, width, imgsz)
    meter = open_meter(device, precision, ort_threads, token, latency_cache,
                       no_latency_cache, protocol_items, imgsz)
    input_hw = meter.imgsz or ckpt.imgsz  # --imgsz, else the profile's, else the model's
    run = new_run_dir("latency-lut", name, out_root)
    try:
        with Progress(console=stderr, transient=True) as progress:
            tasks: dict[str, int] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done)

            result = build_predictor(ckpt.model.cfg, meter, input_hw, grid=fractions,
                                     variants=variants, seed=seed, round_to=round_to,
                                     progress=report)
    finally:
        meter.close()
    result.predictor.save(run / "lut.json")
    atomic_write_text(run / "report.json", json.dumps(result.to_json(), indent=1))
    table = Table(title=f"latency predictor: {run}", title_justify="left")
    for column in ("model", "measured ms", "predicted ms", "error"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for kind, rows in (("fit", result.calibration), ("check", result.validation)):
        for row in rows:
            table.add_row(f"{kind}: {row['name']}", f"{row['measured_ms']:.3f}",
                          f"{row['predicted_ms']:.3f}", f"{row['error']:+.1%}")
    stdout.print(table)
    entries = sum(len(v) for v in result.predictor.entries.values())
    stdout.print(f"{entries} layer entries in {len(result.predictor.entries)} geometries; "
                 f"predictor error on {len(result.validation)} variants: mean "
                 f"{result.mean_abs_error:.1%}, max {result.max_abs_error:.1%}  "
                 f"-> {run / 'lut.json'}")
