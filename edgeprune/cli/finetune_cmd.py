"""`edgeprune finetune`: fine-tune a pruned model with distillation from its base model."""

from __future__ import annotations

import click

from edgeprune.cli.options import bad_data_option, imgsz_option, torch_device_option
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.command()
@click.option("--weights", "-w", required=True,
              help="The pruned checkpoint, e.g. runs/search/exp/best.pt.")
@click.option("--teacher", help="The base model it was pruned from (.pt). Default: the base "
              "recorded in --weights' provenance, when that file exists.")
@click.option("--no-teacher", is_flag=True, help="Plain fine-tuning, no distillation.")
@click.option("--data", help="Dataset YAML. Default: the data the search used (provenance).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Fine-tuning epochs. Default: --base-share of the base's.")
@click.option("--base-share", type=click.FloatRange(0, 4, min_open=True), default=0.3,
              show_default=True, help="Without --epochs: fine-tune for this share of the "
              "epochs the base (--teacher) was trained, from its run's results.csv beside it, "
              "else its checkpoint's plan (published YOLO pruning gives 16-100%).")
@click.option("--corrupt", "corruptions", metavar="NAMES",
              help="Robust fine-tuning: the student trains on batches corrupted by these "
              "(comma-separated names of `edgeprune eval sim2real`'s suite, or all; e.g. the "
              "search's --robust-corruptions), the teacher sees the clean images.")
@click.option("--corrupt-severities", default="1-5", show_default=True, metavar="RANGE",
              help="Severities --corrupt draws from.")
@click.option("--corrupt-share", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              show_default=True, help="Share of each batch's images --corrupt corrupts.")
@click.option("--distill-weight", type=click.FloatRange(min=0), default=1.0,
              show_default=True, help="Weight of the distillation term (0: none).")
@imgsz_option("Square training input size: N or NxN. Default: the checkpoint's.",
              square=True)
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak Adam learning rate. Default: 0.001.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Data-loading processes. Default: CPU cores - 1 (at most 8).")
@torch_device_option()
@click.option("--val-images", type=click.IntRange(min=1), default=None,
              help="Validate on a fixed random subset of this many images.")
@click.option("--seed", type=int, default=0, show_default=True)
@bad_data_option("skip", "Default skip, as for train.")
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root of run folders; the run goes to OUT/finetune/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
def finetune(weights, teacher, no_teacher, data, epochs, base_share, corruptions,
             corrupt_severities, corrupt_share, distill_weight, imgsz, batch, lr,
             workers, torch_device, val_images, seed, bad_data, out_root, name) -> None:
    """Fine-tune a pruned model; the base model teaches it through its raw head outputs.

    \b
    edgeprune finetune --weights runs/search/exp/best.pt --teacher base.pt --epochs 10
    edgeprune finetune --weights pruned.pt --data robomaster.yaml --no-teacher
    torchrun --nproc-per-node 2 -m edgeprune finetune --weights best.pt --teacher base.pt

    The loss is the YOLOv3 training loss plus --distill-weight x (objectness KL on every cell,
    class KL and box regression where the teacher is confident), on the same augmented
    batches. Prints mAP before and after (and the teacher's) on the validation split; writes
    best.pt and last.pt to runs/finetune/NAME. The model as given is scored first and stays
    best.pt until an epoch beats it, so best.pt is never worse than the start. Under torchrun
    it runs on every process with DistributedDataParallel, as `edgeprune train` does (see its
    --help).
    """
    import contextlib
    from pathlib import Path

    from edgeprune.errors import EdgepruneError
    from edgeprune.models import load_checkpoint
    from edgeprune.runs import locked_run_dir, new_run
    from edgeprune.train import distributed
    from edgeprune.train.finetune import finetune as run_finetune
    from edgeprune.train.finetune import finetune_config

    student = load_checkpoint(weights)
    search = student.provenance.get("search") or {}
    pruned_from = student.provenance.get("pruned_from") or {}
    data = data or search.get("data")
    if not data:
        raise EdgepruneError(f"--data is required ({weights} does not record the data it was "
                             f"searched on)")
    if no_teacher:
        teacher = None
    elif teacher is None:
        recorded = pruned_from.get("base")
        if recorded and str(recorded).endswith(".pt") and Path(recorded).is_file():
            teacher = recorded
        else:
            raise EdgepruneError(f"give --teacher (the base model {weights} was pruned from)"
                                 f" or --no-teacher")
    if teacher is not None:
        from edgeprune.train.distill import check_same_heads

        check_same_heads(load_checkpoint(teacher).model, student.model, str(teacher),
                         str(weights))
    overrides = {"batch": batch, "torch_device": torch_device, "seed": seed,
                 "val_images": val_images, "bad_data": bad_data}
    if lr is not None:
        overrides["lr"] = lr
    if corruptions:
        from edgeprune.data.corruptions import CorruptionError
        from edgeprune.eval.sim2real.suite import parse_corruptions, parse_severities

        try:
            overrides.update(corruptions=tuple(parse_corruptions(corruptions)),
                             corruption_severities=tuple(
                                 s for s in parse_severities(corrupt_severities) if s > 0),
                             corruption_share=corrupt_share)
        except CorruptionError as exc:
            raise EdgepruneError(f"--corrupt: {exc}") from None
    if workers is not None:
        overrides["workers"] = workers
    # the model and the data are checked first: a wrong class count is the first thing to say
    config = finetune_config(weights, data, epochs or 1, imgsz, **overrides)
    if epochs is None:
        from edgeprune.train.finetune import share_of_base

        base = teacher or pruned_from.get("base")
        if not base or not Path(base).is_file():
            raise EdgepruneError("give --epochs (with --no-teacher the base's training length "
                                 "is not known)")
        config.epochs, why = share_of_base(base, base_share)
        stdout.print(f"[dim]fine-tuning {config.epochs} epochs: {escape(why)}[/]",
                     highlight=False)
    processes = distributed.join(torch_device)
    # one folder for all processes: rank 0's
    with (new_run("finetune", name, out_root) if processes.is_main
          else contextlib.nullcontext()) as run_dir:
        run_dir = distributed.from_main(run_dir)

        def announce() -> None:  # the data loaded and checked: the run goes ahead
            if processes.is_main:
                stdout.print(f"fine-tuning into [bold]{escape(run_dir)}[/]"
                             + (f" with distillation from {escape(teacher)}" if teacher else "")
                             + (f" on {processes.world_size} processes"
                                if processes.distributed else ""), highlight=False)

        with locked_run_dir(run_dir, "finetune", hold=processes.is_main):
            result = run_finetune(config, run_dir, teacher, distill_weight, console=stdout,
                                  on_start=announce)
    if processes.is_main:
        print_summary(result)
    distributed.leave()


def print_summary(result) -> None:
    from rich.table import Table

    train = result.train
    table = Table(title=f"finetune: {escape(train.run_dir)}", title_justify="left")
    for column in ("", "mAP@0.5", "mAP@0.5:0.95"):
        table.add_column(column, justify="left" if not column else "right")
    rows = (("teacher", result.teacher), ("before fine-tuning", result.before),
            ("after (best.pt)", result.after))
    for label, evaluation in rows:
        if evaluation is not None:
            table.add_row(label, f"{evaluation.map50:.4f}", f"{evaluation.map50_95:.4f}")
    stdout.print(table)
    distill = (f"distillation weight {result.distill_weight:g} from "
               f"{escape(result.teacher_path)}"
               if result.teacher_path else "no distillation")
    stdout.print(f"{train.history[-1].epoch} epochs in {train.seconds / 60:.1f} min, "
                 f"{distill}; best epoch {train.best_epoch}", highlight=False)
    if train.best_epoch == 0:
        stdout.print("[bold yellow]warning:[/] no epoch beat the model as given, so best.pt "
                     "is the starting model; more epochs, a lower --lr or a gentler prune may "
                     "help", highlight=False)
    stdout.print(f"wrote {escape(train.best)}", highlight=False)
    stdout.print(f"wrote {escape(train.last)}", highlight=False)
