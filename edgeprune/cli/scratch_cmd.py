"""`edgeprune scratch`: the model a user would train instead of searching, at the same latency."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeprune.cli.options import device_options, imgsz_option
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.command()
@click.option("--data", help="Dataset YAML to train on (the search's).")
@click.option("--weights", "-w", help="The base checkpoint: the latency reference, and the "
              "widest width considered.")
@click.option("--model", type=click.Choice(["yolov3", "yolov3-tiny", "yolov3-spp"]),
              default="yolov3", show_default=True, help="Built-in architecture to train.")
@click.option("--width", type=click.FloatRange(0, 4, min_open=True),
              help="Train at this width instead of matching a latency.")
@click.option("--target-speedup", type=float, help="Match this speedup over the base on "
              "--device: the widest model at least this much faster.")
@click.option("--target-latency", help="Match this latency on --device (e.g. 8ms).")
@click.option("--match", "match_run", type=click.Path(file_okay=False),
              help="Match the best network of this search run folder: no slower than it.")
@click.option("--cfg", "architecture", type=click.Path(dir_okay=False),
              help="Train this architecture from scratch instead of a built-in model: a "
              "Darknet .cfg, or a checkpoint (.pt) whose weights are dropped, e.g. a search's "
              "best.pt (Liu et al. 2019: the architecture a search finds, trained from "
              "scratch).")
@click.option("--round-to", type=click.IntRange(min=1), default=8, show_default=True,
              help="Filter counts are multiples of this, as the search's pruned networks "
              "keep them (odd counts run slower than rounder, wider ones).")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True,
              help="Training epochs; for a fair comparison, the base's plus the fine-tuning's.")
@imgsz_option("Square input size: N or NxN. Default: the base's.", square=True)
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Data-loading processes. Default: CPU cores - 1.")
@click.option("--torch-device", help="Where to train: cpu, cuda or cuda:N. Default: cuda if "
              "present.")
@device_options
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root of run folders; the run goes to OUT/scratch/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
def scratch(data, weights, model, width, target_speedup, target_latency, match_run,
            architecture, round_to, epochs,
            imgsz, batch, workers, torch_device, device, precision, ort_threads, token,
            latency_cache, no_latency_cache, protocol_items, seed, out_root, name) -> None:
    """Train from scratch the widest built-in model whose measured latency on --device meets
    a target: the comparison a pruned network must win.

    \b
    edgeprune scratch --data d.yaml --weights base.pt --target-speedup 2 --epochs 11
    edgeprune scratch --data d.yaml --weights base.pt --match runs/search/exp --epochs 11
    edgeprune scratch --data d.yaml --weights base.pt --model yolov3-tiny --width 0.25
    edgeprune scratch --data d.yaml --weights base.pt --cfg runs/search/exp/best.pt

    Each width tried is timed interleaved with the base on --device, as search candidates
    are, so the two compare at equal measured latency. Writes the training run (best.pt,
    last.pt, results.csv) and scratch.json (width, latency ratio to the base).
    """
    from edgeprune.cli.options import open_meter
    from edgeprune.errors import EdgepruneError
    from edgeprune.models import load_checkpoint
    from edgeprune.runs import new_run_dir
    from edgeprune.search.target import Target, parse_latency_ms
    from edgeprune.train.scratch import latency_ratio, matched_width, train_scratch

    for value, what in ((data, "--data (a dataset YAML)"),
                        (weights, "--weights (the base checkpoint)")):
        if not value:
            raise EdgepruneError(f"{what} is required")
        if not Path(value).exists():
            raise EdgepruneError(f"{value}: {what.split()[0]} not found")
    targets = [t for t in (width, target_speedup, target_latency, match_run, architecture)
               if t is not None]
    if len(targets) != 1:
        raise EdgepruneError("give one of --width, --target-speedup, --target-latency, --match, "
                             "--cfg")
    base = load_checkpoint(weights)
    size = imgsz or base.imgsz[0]
    meter = open_meter(device, precision, ort_threads, token, latency_cache,
                       no_latency_cache, protocol_items, size)
    try:
        meter.use_reference(base.model.cfg)
        base_ms = meter.measure(base.model.cfg).median_ms
        classes = len(base.names)
        cfg = None
        if architecture is not None:
            cfg = _architecture(architecture)
            model, width = Path(architecture).stem, 1.0
            ratio = meter.measure(cfg).ratio
        elif width is not None:
            ratio = latency_ratio(meter, model, classes, size, width, round_to)
        else:
            if match_run is not None:
                from edgeprune.search.measured_base import load_measured_base
                from edgeprune.search.records import CandidateLog
                from edgeprune.search.results import best_record

                best = best_record(CandidateLog(match_run).read())
                measured = load_measured_base(Path(match_run))
                if best is None or measured is None:
                    raise EdgepruneError(f"{match_run}: no evaluated candidate to match")
                max_ratio = best.latency_ms / measured.latency_ms
            else:
                target = Target(latency_ms=parse_latency_ms(target_latency)
                                if target_latency else None, speedup=target_speedup)
                max_ratio = target.resolve_ms(base_ms) / base_ms
            with stdout.status(f"finding the {model} width at most {max_ratio:.3f} of the "
                               f"base's latency on {meter.describe()}..."):
                width, ratio = matched_width(meter, classes, size, 1.0, max_ratio, model,
                                             round_to)
    finally:
        meter.close()
    run = new_run_dir("scratch", name, out_root)
    trained = train_scratch(Path(data), model, width, ratio, imgsz=size, epochs=epochs,
                            batch=batch, seed=seed, workers=workers, run=run,
                            console=stdout, torch_device=torch_device, round_to=round_to,
                            architecture=cfg)
    record = {**trained.to_json(), "base": str(Path(weights).resolve()),
              "base_latency_ms": base_ms, "latency_ms": ratio * base_ms,
              "device": device, "epochs": epochs}
    (run / "scratch.json").write_text(json.dumps(record, indent=2))
    what = escape(architecture) if cfg is not None else f"{model} width {width:g}"
    stdout.print(f"{what}: {ratio * base_ms:.3f} ms on {escape(device)} "
                 f"({1 / ratio:.2f}x faster than the base), trained {epochs} epochs: "
                 f"{escape(trained.weights)}", highlight=False)



def _architecture(path: str):
    """The DarknetCfg of a .cfg file or of a checkpoint (its weights are not used)."""
    from edgeprune.models.cfg import read_cfg
    from edgeprune.models.checkpoint import load_checkpoint

    if Path(path).suffix.lower() == ".cfg":
        return read_cfg(path)
    return load_checkpoint(path).model.cfg
