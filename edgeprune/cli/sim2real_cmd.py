"""`edgeprune eval sim2real`: the sim-to-real gap and camera-corruption robustness of models."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprune.cli.options import check_out_or_name, imgsz_option, runtime_options
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.group(name="eval")
def eval_group() -> None:
    """Robustness evaluation (plain mAP on one split is `edgeprune val`)."""


@eval_group.command()
@click.option("--weights", "-w", multiple=True, required=True,
              help="A model: checkpoint (.pt), ONNX (.onnx) or Darknet .weights (with --cfg). "
                   "Repeat to compare models side by side.")
@click.option("--cfg", multiple=True, type=click.Path(dir_okay=False),
              help="Darknet .cfg of each Darknet .weights among --weights, in the same order.")
@click.option("--sim", required=True, help="Dataset YAML of the simulated domain.")
@click.option("--real", required=True,
              help="Dataset YAML of the real domain (the same classes in the same order).")
@click.option("--corruptions", default="all", show_default=True,
              help="Camera corruptions applied to the sim split: all, none, or names "
                   "separated by commas (gaussian_noise, shot_noise, motion_blur, "
                   "defocus_blur, brightness_up, brightness_down, contrast, white_balance, "
                   "jpeg, low_light, vignetting).")
@click.option("--severities", default="1-5", show_default=True,
              help="Severities of each corruption, 0 (clean) to 5: e.g. 1-5, 1,3,5.")
@imgsz_option("Input size for every model: N or WIDTHxHEIGHT (multiples of 32). Default: "
              "each model's own.")
@click.option("--split", default="val", show_default=True,
              type=click.Choice(["train", "val", "test"]),
              help="Split of both datasets to evaluate on.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seeds the corruptions (and the --max-images subset).")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="Evaluate a fixed random subset of this many images of each split.")
@runtime_options("Inference runtime: auto, torch, onnxruntime.")
@click.option("--cache-mb", type=click.FloatRange(min=0), default=4096, show_default=True,
              help="Keep the decoded sim split in memory when it fits in this many MB; "
                   "otherwise stream it once per model.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Run folder. Running again with the same folder skips finished "
                   "evaluations. Default: runs/eval/NAME.")
@click.option("--name", default="sim2real", show_default=True,
              help="Run name under runs/eval (a new NAME2, NAME3... if taken, unless --resume).")
@click.option("--resume", is_flag=True,
              help="Continue runs/eval/NAME instead of starting a new folder.")
@click.option("--json", "as_json", is_flag=True, help="Print results.json instead of tables.")
def sim2real(weights, cfg, sim, real, corruptions, severities, imgsz, split, seed, batch,
             max_images, runtime, torch_device, cache_mb, out_dir, name, resume,
             as_json) -> None:
    """Sim-to-real robustness of one or more models, side by side, with a report.

    Every model is evaluated (COCO mAP@0.5 and mAP@0.5:0.95, the Detector as `edgeprune val`
    runs it) on the sim split, on the real split, and on the sim split through each camera
    corruption at each severity. Corrupted images depend only on (seed, image, corruption,
    severity), so all models see the same pixels. Writes results.json, report.md and plots
    (severity.png, sim_vs_real.png, retention.png) to the run folder; each finished score is
    saved at once (results.partial.jsonl), so an interrupted run continues where it stopped.

    \b
    edgeprune eval sim2real --weights base.pt --weights pruned.pt \\
        --sim data/sim/data.yaml --real data/real/data.yaml --out runs/eval/base-vs-pruned
    edgeprune eval sim2real -w best.pt --sim sim.yaml --real real.yaml \\
        --corruptions gaussian_noise,motion_blur --severities 1,3,5 --max-images 200
    """
    import json

    from edgeprune.errors import EdgepruneError
    from edgeprune.eval.sim2real import ModelSource, run_sim2real
    from edgeprune.runs import locked_run_dir, new_run_dir

    darknet = [w for w in weights if w.lower().endswith(".weights")]
    if len(cfg) != len(darknet):
        raise EdgepruneError(f"{len(darknet)} Darknet .weights among --weights but "
                             f"{len(cfg)} --cfg: give one .cfg per .weights, in the same order")
    cfgs = iter(cfg)
    sources = [ModelSource("", Path(w), Path(next(cfgs)) if w in darknet else None)
               for w in weights]
    check_out_or_name(out_dir)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
    elif resume:
        out = Path("runs") / "eval" / name
        if not out.is_dir():
            raise EdgepruneError(f"{out}: no run to resume")
    else:
        out = new_run_dir("eval", name)

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with locked_run_dir(out, "eval sim2real"), \
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                     TimeRemainingColumn(), console=stdout, transient=True,
                     disable=as_json or not stdout.is_terminal) as bar:
        task = None

        def advance(images: int, total: int, description: str) -> None:
            nonlocal task
            if task is None:
                task = bar.add_task("sim2real", total=total)
            bar.update(task, advance=images, description=escape(description))

        result = run_sim2real(sources, sim, real, corruptions, severities, imgsz, out,
                              split=split, seed=seed, batch_size=batch, runtime=runtime,
                              device=torch_device, max_images=max_images, cache_mb=cache_mb,
                              progress=advance)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    stdout.print(summary_table(result))
    if result.reused:
        stdout.print(f"{result.reused} evaluation(s) taken from the earlier run in "
                     f"{escape(out)}",
                     highlight=False)
    for note in result.notes:
        stdout.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    stdout.print(f"report: {escape(result.files['report'])}; results: "
                 f"{escape(result.files['results'])}; "
                 f"{result.seconds:.1f} s", highlight=False)


def summary_table(result):
    from rich.table import Table

    from edgeprune.eval.sim2real.report import number, percent, signed

    table = Table(title=f"sim2real: {escape(result.out)} ({result.datasets['sim']['images']} sim, "
                        f"{result.datasets['real']['images']} real images; "
                        f"{len(result.corruptions)} corruptions x "
                        f"{len([s for s in result.severities if s > 0])} severities)",
                  title_justify="left")
    for column in ("model", "sim mAP@0.5", "real mAP@0.5", "gap", "real/sim",
                   "mAP@0.5:0.95 sim/real", "corrupted (mPC)", "kept (rPC)", "weakest"):
        table.add_column(column, justify="left" if column in ("model", "weakest") else "right")
    for m in result.models:
        table.add_row(escape(m.label), number(m.sim.map50), number(m.real.map50), signed(m.gap()),
                      percent(m.real_retention()),
                      f"{number(m.sim.map50_95)} / {number(m.real.map50_95)}",
                      number(m.suite_mean()), percent(m.suite_retention()),
                      m.weakest_corruption() or "-")
    return table
