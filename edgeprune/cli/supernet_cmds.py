"""`edgeprune supernet`: train the weight-sharing network of a base once, extract sub-networks."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.cli.options import imgsz_option, torch_device_option, torch_threads_option
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape
from edgeprune.supernet.space import SubnetRules  # plain dataclass: no torch at import

RULES = SubnetRules()


@click.group()
def supernet() -> None:
    """Weight-sharing network of a base model: the search's accuracy proxy.

    \b
    edgeprune supernet train --weights base.pt --data robomaster.yaml
    edgeprune search --weights base.pt --data robomaster.yaml \\
        --supernet runs/supernet/exp/supernet.pt --target-speedup 2
    edgeprune supernet extract --supernet runs/supernet/exp/supernet.pt \\
        --spec runs/search/exp/best.yaml --data robomaster.yaml --out sub.pt

    Trained once per base, it gives any pruning candidate trained weights without training
    it, so the search scores candidates the way fine-tuning would rank them.
    """


@supernet.command("train")
@click.option("--weights", "-w", help="Base model checkpoint (.pt): where the shared weights "
              "start, and the teacher.")
@click.option("--data", help="Dataset YAML: the train split trains, the val split scores the "
              "probe at the end.")
@click.option("--form", type=click.Choice(["pruningnet", "slimmable"]), default="pruningnet",
              show_default=True, help="pruningnet: Graph PruningNet, batch norms modulated by "
              "a graph encoder of the sub-network; slimmable: shared weights alone.")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=2.0,
              show_default=True, help="Passes over the training split (fractions allowed).")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--subnets", type=click.IntRange(min=0), default=2, show_default=True,
              help="Random sub-networks per step, besides the largest and the smallest.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=3e-4,
              show_default=True, help="Peak AdamW learning rate.")
@click.option("--distill-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Weight of distillation from the base's outputs (0: labels only).")
@imgsz_option("Square training input size: N or NxN. Default: the base checkpoint's.",
              square=True)
@click.option("--round-to", type=click.IntRange(min=1), default=RULES.round_to,
              show_default=True, help="Channel grid of the space (as the search's).")
@click.option("--min-channels", type=click.IntRange(min=1), default=RULES.min_channels,
              show_default=True)
@click.option("--min-ratio", type=click.FloatRange(0, 1, min_open=True),
              default=RULES.min_ratio, show_default=True,
              help="Lowest keep ratio of the space (as the search's).")
@click.option("--max-drop", type=click.FloatRange(0, 1), default=RULES.max_drop,
              show_default=True, help="Random sub-networks drop each residual block with a "
              "probability drawn from [0, this].")
@click.option("--importance", default="l1", show_default=True,
              help="Criterion of the fixed channel order: l1, l2, bn_scale.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Data-loading processes. Default: CPU cores - 1.")
@torch_threads_option
@torch_device_option()
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=25, show_default=True,
              help="Steps between saves of last.pt (what --resume continues from).")
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root of run folders; the run goes to OUT/supernet/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue the run in this folder from its last.pt.")
def train(weights, data, form, epochs, batch, subnets, lr, distill_weight, imgsz, round_to,
          min_channels, min_ratio, max_drop, importance, workers, torch_threads, torch_device, seed,
          save_every, out_root, name, resume) -> None:
    """Train the weight-sharing network of --weights over the whole search space.

    Each step trains the largest sub-network (the base), the smallest and --subnets random
    ones on one batch, with distillation from the base. Writes supernet.pt (what `edgeprune
    search --supernet` reads), last.pt every few steps (a killed run continues with
    --resume), log.csv and probe.json (mAP of three sub-networks at the end).
    """
    from edgeprune.errors import EdgepruneError
    from edgeprune.runs import new_run_dir
    from edgeprune.supernet.train import SupernetConfig, train_supernet

    if resume:
        result = train_supernet(None, resume, resume=True, console=stdout)
    else:
        for value, what in ((weights, "--weights (the base checkpoint)"),
                            (data, "--data (a dataset YAML)")):
            if not value:
                raise EdgepruneError(f"{what} is required")
            if not Path(value).exists():
                raise EdgepruneError(f"{value}: {what.split()[0]} not found")
        extra = {"workers": workers} if workers is not None else {}
        config = SupernetConfig(
            weights=str(Path(weights).resolve()), data=str(Path(data).resolve()), form=form,
            epochs=epochs, batch=batch, subnets=subnets, lr=lr, distill_weight=distill_weight,
            imgsz=imgsz, round_to=round_to, min_channels=min_channels, min_ratio=min_ratio,
            max_drop=max_drop, importance=importance, torch_threads=torch_threads,
            torch_device=torch_device, seed=seed, save_every=save_every, **extra)
        run_dir = new_run_dir("supernet", name, out_root)
        stdout.print(f"training the {form} weight-sharing network into [bold]{escape(run_dir)}[/]",
                     highlight=False)
        result = train_supernet(config, run_dir, console=stdout)
    _summary(result)


def _summary(result) -> None:
    from rich.table import Table

    table = Table(title=f"supernet: {result.run_dir}", show_header=False, title_justify="left")
    table.add_row("steps", str(result.steps) + (f" (resumed at {result.resumed_at})"
                                               if result.resumed_at else ""))
    table.add_row("training time", f"{result.seconds / 60:.1f} min")
    for name, map50 in result.probe.items():
        table.add_row(f"{name} sub-network", f"mAP@0.5 {map50:.4f} (BN re-estimated)")
    table.add_row("supernet.pt", str(result.supernet))
    stdout.print(table)


@supernet.command("extract")
@click.option("--supernet", "supernet_path", required=True, type=click.Path(dir_okay=False),
              help="Weight-sharing network file (supernet.pt).")
@click.option("--spec", "spec_path", required=True, type=click.Path(dir_okay=False),
              help="Prune spec (.yaml/.json), e.g. a search's best.yaml.")
@click.option("--data", help="Dataset YAML whose train split re-estimates the batch-norm "
              "statistics (recommended; without it they are the base's).")
@click.option("--recal-batches", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--recal-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per recalibration batch.")
@deprecated_alias("--batch", "--recal-batch", type=click.IntRange(min=1))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Checkpoint to write (.pt); `edgeprune export --format darknet` makes "
              ".cfg/.weights of it.")
@click.option("--seed", type=int, default=0, show_default=True)
def extract(supernet_path, spec_path, data, recal_batches, recal_batch, out_path, seed) -> None:
    """Write the standalone network of a spec, with the trained shared weights."""
    from edgeprune.models.checkpoint import Checkpoint, save_checkpoint
    from edgeprune.prune.spec import load_spec
    from edgeprune.supernet.file import load_supernet

    sn = load_supernet(supernet_path)
    spec = load_spec(spec_path)
    model = sn.net.extract(spec)
    recal = None
    if data:
        from edgeprune.data.batches import image_batches
        from edgeprune.prune.recalibrate import recalibrate_bn

        with stdout.status("re-estimating batch-norm statistics..."):
            batches = image_batches(data, sn.imgsz, recal_batch, recal_batches, seed=seed)
            recal = recalibrate_bn(model, batches, recal_batches)
    provenance = {"extracted_from": {"supernet": str(Path(supernet_path).resolve()),
                                     "form": sn.form, "base": sn.base_path,
                                     "base_fingerprint": sn.base_fingerprint},
                  "spec": spec.to_dict(), "spec_hash": spec.hash,
                  "bn_recalibration": {"data": data, "batches": recal, "batch_size": recal_batch}
                  if recal else None}
    path = save_checkpoint(Checkpoint(model, sn.names, sn.imgsz, provenance), out_path)
    tail = "" if recal else " (BN statistics are the base's: give --data to re-estimate them)"
    stdout.print(f"wrote {escape(path)}{tail}", highlight=False)
