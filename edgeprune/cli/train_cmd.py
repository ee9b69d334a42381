"""`edgeprune train`: train a YOLOv3-family detector on a dataset YAML."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprune.cli.options import (
    bad_data_option,
    check_out_or_name,
    imgsz_option,
    torch_device_option,
    torch_threads_option,
)
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.command()
@click.option("--data", help="Dataset YAML (path/train/val/names; YOLO, Darknet, ABCP, VOC, "
              "COCO layouts) or a Darknet .data file.")
@click.option("--model", default=None, help="Architecture: yolov3, yolov3-tiny, yolov3-spp or "
              "a Darknet .cfg. Default: that of the starting weights (a .pt's own, or "
              "--cfg); yolov3 when neither is given.")
@click.option("--width", type=click.FloatRange(0, 4, min_open=True), default=1.0,
              show_default=True, help="Width multiplier of a built-in --model.")
@click.option("--weights", "-w", help="Starting weights: an edgeprune checkpoint (.pt) or "
              "Darknet .weights (with --cfg). Tensors whose shapes fit are transferred.")
@click.option("--cfg", type=click.Path(dir_okay=False), help="Darknet .cfg of --weights.")
@imgsz_option("Square training input size: N or NxN (a multiple of 32).", square=True,
              default=416, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True,
              help="Epochs to train; with --plateau, the most it may train.")
@click.option("--plateau", "plateau_window", type=click.IntRange(min=1), default=None,
              help="Train until converged: stop when the best val mAP@0.5 of the last N "
              "epochs beats the best before them by less than --plateau-gain (recorded in "
              "plateau.json). Default: train every --epochs.")
@click.option("--plateau-gain", type=click.FloatRange(0, 1, max_open=True), default=0.005,
              show_default=True, help="mAP@0.5 gain over --plateau epochs below which "
              "training has converged (a gain of a tenth or more of the best so far never is).")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Data-loading processes. Default: CPU cores - 1 (at most 8).")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="adam",
              show_default=True, help="adam converges faster on short CPU runs; sgd is the "
              "classic YOLO choice for long GPU runs (use --lr 0.01 with it).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak learning rate. Default: 0.002 with adam, 0.01 with sgd.")
@torch_device_option()
@torch_threads_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--val-images", type=click.IntRange(min=1), default=None,
              help="Validate each epoch on a fixed random subset of this many images.")
@click.option("--no-val", is_flag=True, help="Skip validation (best.pt is then the last "
              "epoch).")
@bad_data_option("skip", "Default skip: a few broken files among thousands should not cost a "
                 "training run.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Run folder. Default: runs/train/NAME.")
@click.option("--name", default="exp", show_default=True,
              help="Run name under runs/train (a new exp2, exp3... if taken).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (or runs/train/NAME) "
              "from its last.pt, with the settings it was started with.")
def train(data, model, width, weights, cfg, imgsz, epochs, plateau_window, plateau_gain, batch,
          workers, optimizer, lr,
          torch_device, torch_threads, seed, val_images, no_val, bad_data, out_dir, name,
          resume) -> None:
    """Train a detector: YOLOv3 loss, augmentation, warm-up + cosine LR, EMA, mAP each epoch.

    Writes last.pt (resumable) and best.pt (highest validation fitness) into the run folder
    every epoch, with results.csv and config.yaml.

    \b
    edgeprune train --data robomaster.yaml --model yolov3 --width 0.25 --imgsz 320 --epochs 30
    edgeprune train --data robomaster.yaml --cfg yolov3.cfg --weights yolov3.weights
    edgeprune train --name exp --resume
    torchrun --nproc-per-node 4 -m edgeprune train --data robomaster.yaml --batch 64

    Under torchrun, every process trains with DistributedDataParallel on its share of each
    batch (--batch is the batch of one step over all processes; gloo on CPU, nccl with one
    GPU per process); rank 0 validates and writes the run folder, which resumes as usual.
    """
    import contextlib

    from edgeprune.errors import EdgepruneError
    from edgeprune.runs import locked_run_dir, new_run
    from edgeprune.train import TrainConfig, Trainer, distributed
    from edgeprune.train.trainer import train as run_training

    check_out_or_name(out_dir)
    processes = distributed.join(torch_device)
    if resume:
        run_dir = Path(out_dir) if out_dir else Path("runs") / "train" / name
        if not run_dir.is_dir():
            raise EdgepruneError(f"{run_dir}: no run to resume")
        with locked_run_dir(run_dir, "train", hold=processes.is_main):
            result = run_training(None, run_dir, resume=True, validate=not no_val,
                                  console=stdout)
    else:
        if not data:
            raise EdgepruneError("--data is required (a dataset YAML)")
        if model is None and not weights and not cfg:
            model = "yolov3"
        if plateau_window and no_val:
            raise click.UsageError("--plateau needs validation: drop --no-val")
        config = TrainConfig(data=data, model=model, width=width, weights=weights, cfg=cfg,
                             imgsz=imgsz, epochs=epochs, batch=batch, optimizer=optimizer,
                             lr=lr,
                             torch_device=torch_device, torch_threads=torch_threads, seed=seed,
                             val_images=val_images, bad_data=bad_data,
                             plateau_window=plateau_window, plateau_gain=plateau_gain)
        if workers is not None:
            config.workers = workers
        config.check()
        if out_dir and (Path(out_dir) / "last.pt").exists():
            raise EdgepruneError(f"{out_dir} already holds a run; add --resume to continue it "
                                 f"or choose another --out")
        # one folder for all processes: rank 0's
        with (new_run("train", name, folder=out_dir) if processes.is_main
              else contextlib.nullcontext()) as run_dir:
            run_dir = distributed.from_main(run_dir)
            with locked_run_dir(run_dir, "train", hold=processes.is_main):
                trainer = Trainer(config, run_dir, validate=not no_val, console=stdout)
                if processes.is_main:  # the data loaded and checked: the run goes ahead
                    stdout.print(f"training into [bold]{escape(run_dir)}[/]"
                                 + (f" on {processes.world_size} processes"
                                    if processes.distributed else ""), highlight=False)
                result = trainer.run()
    if processes.is_main:
        _summary(result)
    distributed.leave()


def _summary(result) -> None:
    from rich.table import Table

    table = Table(title=f"train: {escape(result.run_dir)}", show_header=False,
                  title_justify="left")
    table.add_row("model", escape(result.description))
    last = result.history[-1]
    table.add_row("epochs", str(last.epoch) + (f" (stopped early: {escape(result.stop_reason)})"
                                               if result.stop_reason else ""))
    table.add_row("wall time", f"{result.seconds / 60:.1f} min (this session)")
    best = result.best_stats
    if best is not None and best.map50 is not None:
        table.add_row("best epoch", f"{best.epoch}: mAP@0.5 {best.map50:.4f}, "
                      f"mAP@0.5:0.95 {best.map50_95:.4f}")
    table.add_row("final losses", f"box {last.box:.4f}, obj {last.obj:.4f}, cls {last.cls:.4f}")
    table.add_row("best.pt", escape(result.best))
    table.add_row("last.pt", escape(result.last))
    stdout.print(table)
    if result.final_eval is not None:
        from edgeprune.cli.tables import class_table

        stdout.print(class_table(result.final_eval, "best.pt on val"))
