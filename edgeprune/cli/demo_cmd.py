"""`edgeprune demo`: the whole chain on the embedded default, on a machine with nothing."""

from __future__ import annotations

import click

from edgeprune.cli.options import imgsz_option
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape
from edgeprune.demo.settings import DEMO_PROXIES, DemoSettings  # no torch: plain settings

DEFAULTS = DemoSettings()


@click.command()
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root folder; the run goes to OUT/demo/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
@click.option("--cache", "cache_dir", envvar="EDGEPRUNE_DEMO_CACHE", show_envvar=True,
              type=click.Path(file_okay=False),
              help="Where generated data and the trained base are kept between demos. "
              "Default: ~/.cache/edgeprune/demo.")
@click.option("--no-cache", is_flag=True, help="Generate and train everything in the run "
              "folder; read and write no cache.")
@click.option("--images", type=click.IntRange(min=8), default=DEFAULTS.images,
              show_default=True, help="Generated images per domain (80% train, 20% val).")
@imgsz_option("Square network input size: N or NxN.", square=True, default=DEFAULTS.imgsz,
              show_default=True)
@click.option("--width", type=click.FloatRange(0, 4, min_open=True),
              default=DEFAULTS.width, show_default=True,
              help="yolov3 width multiplier.")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs,
              show_default=True, help="The most epochs the base trains; with --plateau it "
              "stops earlier once converged.")
@click.option("--plateau", type=click.IntRange(min=0), default=DEFAULTS.plateau,
              show_default=True, help="Stop the base's training when val mAP@0.5 has gained "
              "less than 0.005 over this many epochs (`train --plateau`); 0 trains every "
              "epoch (and the regime's convergence check then fails).")
@click.option("--batch", type=click.IntRange(min=1), default=DEFAULTS.batch, show_default=True)
@click.option("--target-speedup", type=click.FloatRange(min=1, min_open=True),
              default=DEFAULTS.target_speedup, show_default=True,
              help="Latency target of the search, relative to the base on this CPU.")
@click.option("--proxy", type=click.Choice(DEMO_PROXIES), default=DEFAULTS.proxy,
              show_default=True,
              help="The search's accuracy proxy: bn-recal scores the base's pruned weights "
              "after BN re-estimation; pruningnet and slimmable train the base's "
              "weight-sharing network first (docs/search.md, "
              "benchmarks/results/proxy_fidelity.md).")
@click.option("--supernet-epochs", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULTS.supernet_epochs, show_default=True,
              help="Epochs of the base's weight-sharing network (with a weight-sharing "
              "--proxy).")
@click.option("--agent", default=DEFAULTS.agent, show_default=True,
              help="Search agent (the random baseline when this one is not installed).")
@click.option("--budget", type=click.IntRange(min=1), default=DEFAULTS.budget,
              show_default=True, help="Search candidates.")
@click.option("--val-images", type=click.IntRange(min=1),
              default=DEFAULTS.val_images, show_default=True,
              help="Validation images the search's accuracy proxy uses.")
@click.option("--recal-batches", type=click.IntRange(min=1),
              default=DEFAULTS.recal_batches, show_default=True)
@click.option("--finetune-epochs", type=click.IntRange(min=1), default=None,
              help="Fine-tuning epochs. Default: --finetune-share of the base's epochs.")
@click.option("--finetune-share", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULTS.finetune_share, show_default=True,
              help="Fine-tuning epochs as a share of the epochs the base trained.")
@click.option("--ort-threads", type=click.IntRange(min=1), default=DEFAULTS.ort_threads,
              show_default=True, help="ONNX Runtime threads of every latency measurement "
              "(1: where this CPU's latency follows compute; see the report's regime "
              "checks).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Data-loading processes. Default: CPU cores - 1.")
@click.option("--parallel", type=click.IntRange(min=1), default=None,
              help="Trainings after the search (fine-tuning and both scratch models) run "
              "side by side in this many processes, the cores shared evenly; 1 runs them "
              "one after another. Default: all 3 (1 on a one-core machine).")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out_root, name, cache_dir, no_cache, images, imgsz, width, epochs, plateau, batch,
         target_speedup, proxy, supernet_epochs, agent, budget, val_images, recal_batches,
         finetune_epochs, finetune_share, ort_threads, workers, parallel, seed) -> None:
    """Run the whole chain on generated RoboMaster-like data, on this machine alone.

    \b
    1. generate a sim and a real dataset (edgeprune data synth; same scenes, real adds a
       camera model)
    2. train a small yolov3 on sim until converged (--plateau), then (with a
       weight-sharing --proxy) its weight-sharing network (both cached: a second demo reuses
       them); check the regime: converged, and latency that follows compute on this CPU
    3. search a pruned model 2x faster on this CPU (ONNX Runtime latency in the reward,
       candidates scored by --proxy)
    4. fine-tune it with distillation from the base for a share of the base's epochs; train
       from scratch, for as many epochs in all, the widest yolov3 as fast as it and its own
       architecture: the comparisons that matter (cached too)
    5. evaluate base, pruned, fine-tuned and both scratch models on sim and real; export the
       final ONNX
    6. sim-to-real robustness of the base and the fine-tuned model (edgeprune eval
       sim2real on a subset of corruptions and val images)

    Writes OUT/demo/NAME/report.md (with the regime checks, and the verdicts against both
    scratch models) and prints a summary table. A cold run with the defaults took 53.3
    minutes on a 2-core CPU (the trainings one after another); docs/demo.md ("Sizes") says
    what they were measured to cost and reach, and what was tried to make it shorter.
    """
    from pathlib import Path

    from edgeprune.demo.pipeline import DEFAULT_CACHE, run_demo
    from edgeprune.demo.report import robustness_table, summary_table
    from edgeprune.runs import new_run_dir

    settings = DemoSettings(images=images, imgsz=imgsz, width=width, epochs=epochs,
                            batch=batch, target_speedup=target_speedup,
                            proxy=proxy, supernet_epochs=supernet_epochs, agent=agent,
                            budget=budget, val_images=val_images, recal_batches=recal_batches,
                            finetune_epochs=finetune_epochs, finetune_share=finetune_share,
                            plateau=plateau, ort_threads=ort_threads, seed=seed,
                            workers=workers, parallel=parallel)
    cache = None if no_cache else Path(cache_dir) if cache_dir else DEFAULT_CACHE
    run = new_run_dir("demo", name, out_root)
    stdout.print(f"edgeprune demo into [bold]{escape(run)}[/]"
                 + (f" (cache {escape(cache)})" if cache else ""), highlight=False)
    result = run_demo(settings, run, cache, stdout)
    stdout.print(summary_table(result))
    stdout.print(robustness_table(result))
    total = sum(result.timer.seconds.values())
    stdout.print(f"{total / 60:.1f} min in all ("
                 + ", ".join(f"{step} {seconds / 60:.1f}"
                             for step, seconds in result.timer.seconds.items())
                 + f"); report: {result.report}", highlight=False)
