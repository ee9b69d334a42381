"""`edgeprune search`: RL pruning search with measured latency in the reward."""

from __future__ import annotations

import click
from click.core import ParameterSource

from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.cli.options import bad_data_option, device_options, imgsz_option
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape
from edgeprune.search.settings import setting_default  # plain dataclasses: no torch at import

# the only options that mean something with --resume: the rest is the run's config.yaml
RESUME_KEEPS = {"resume", "token", "cluster", "accuracy_workers", "worker_cpus"}
NOT_SETTINGS = RESUME_KEEPS | {"out_root", "name"}
# option -> the setting it sets (SearchSettings, dotted into its nested dataclasses): the
# defaults below are read from the settings, and tests/search/test_settings_cli.py checks that
# every option but NOT_SETTINGS sets one and every setting is an option or DERIVED
OPTION_SETTINGS = {
    "data": "data", "weights": "weights", "device": "device",
    "target_latency": "target.latency_ms", "target_speedup": "target.speedup",
    "agent": "agent", "agent_items": "agent_options", "budget": "budget",
    "round_size": "round_size", "reward_kind": "reward.kind", "reward_alpha": "reward.alpha",
    "reward_beta": "reward.beta", "proxy": "proxy", "supernet_path": "proxy_settings.supernet",
    "recal_batches": "proxy_settings.recal_batches", "recal_batch": "proxy_settings.batch_size",
    "finetune_steps": "proxy_settings.finetune_steps", "val_images": "val_images",
    "imgsz": "imgsz", "round_to": "round_to", "min_channels": "min_channels",
    "min_ratio": "min_ratio", "importance": "importance", "precision": "precision",
    "ort_threads": "threads", "protocol_items": "protocol", "interleave": "interleave",
    "latency_table": "latency_table", "latency_cache": "latency_cache", "seed": "seed",
    "latency_mode": "latency_mode", "audit_rate": "audit_rate",
    "measure_front": "measure_front",
    "robust_corruptions": "robust.corruptions", "robust_severities": "robust.severities",
    "robust_images": "robust.images", "robust_real": "robust.real",
    "robust_real_images": "robust.real_images", "robust_weight": "robust.weight",
    "bad_data": "bad_data",
}
# settings no option sets: resolved from others (proxy_settings.seed is --seed) or the code's
DERIVED = {"proxy_settings.seed", "proxy_settings.finetune_lr", "reward.penalty",
           "reward.tolerance"}


def default(option: str):
    """The default of the setting `option` sets: declared once, in the settings."""
    return setting_default(OPTION_SETTINGS[option])


@click.command()
@click.option("--data", help="Dataset YAML: the train split feeds the accuracy proxy, a fixed "
              "subset of val scores it.")
@click.option("--weights", "-w", help="Base model checkpoint (.pt), e.g. from edgeprune train.")
@click.option("--target-latency", help="Latency target on the device, e.g. 8ms (a bare number "
              "is milliseconds). Give this or --target-speedup (one is required).")
@click.option("--target-speedup", type=float, help="Target as a speedup over the base model's "
              "latency measured on the same device, e.g. 3. Give this or --target-latency.")
@click.option("--agent", default=default("agent"), show_default=True,
              help="Search agent: abcp, purl, rlpruner, gcn, or the baselines evolution "
              "(MetaPruning's evolutionary search), flops, uniform, random, halp (latency "
              "knapsack on the device's per-layer table).")
@click.option("--agent-option", "agent_items", multiple=True, metavar="KEY=VALUE",
              help="Agent-specific setting (repeatable), e.g. --agent-option spread=0.2.")
@click.option("--budget", type=click.IntRange(min=1), default=default("budget"),
              show_default=True, help="Candidates to evaluate.")
@click.option("--round-size", type=click.IntRange(min=1), default=default("round_size"),
              show_default=True,
              help="Candidates the agent proposes together before it learns from them: up to "
              "this many are evaluated side by side with --cluster. A setting of the search "
              "(what a seed proposes depends on it, never on the number of workers).")
@click.option("--reward", "reward_kind", type=click.Choice(["soft", "hard"]),
              default=default("reward_kind"), show_default=True,
              help="hard: accuracy within the target, a penalty growing with the miss beyond "
              "it (a budget); soft: accuracy x (latency/target)^w (MnasNet) (docs/search.md).")
@click.option("--reward-alpha", type=float, default=default("reward_alpha"), show_default=True,
              help="soft reward exponent within the target.")
@click.option("--reward-beta", type=click.FloatRange(max=0), default=default("reward_beta"),
              show_default=True, help="soft reward exponent over the target.")
@click.option("--proxy", type=click.Choice(["bn-recal", "finetune", "pruningnet", "slimmable"]),
              help="Accuracy proxy: bn-recal (BN re-estimation of the pruned base), finetune "
              "(a few training steps, then BN re-estimation), pruningnet or slimmable (weights "
              "from the --supernet file, then BN re-estimation; slimmable uses the shared "
              "weights alone, pruningnet also modulates every batch norm by an encoder of the "
              "candidate's graph, and ranked candidates closer to their fine-tuned accuracy "
              "in docs/supernet.md). Default: the --supernet file's form, else bn-recal.")
@click.option("--supernet", "supernet_path", type=click.Path(dir_okay=False),
              help="Weight-sharing network of --weights (edgeprune supernet train): candidates "
              "get its trained weights; its channel grid becomes the search's.")
@click.option("--recal-batches", type=click.IntRange(min=1), default=default("recal_batches"),
              show_default=True, help="Training batches for BN recalibration (K).")
@click.option("--recal-batch", type=click.IntRange(min=1), default=default("recal_batch"),
              show_default=True, help="Images per batch of the accuracy proxy: BN "
              "re-estimation and, with --proxy finetune, its training steps.")
@deprecated_alias("--batch", "--recal-batch", type=click.IntRange(min=1))
@click.option("--finetune-steps", type=click.IntRange(min=1), default=default("finetune_steps"),
              show_default=True, help="Training steps per candidate with --proxy finetune.")
@click.option("--val-images", type=click.IntRange(min=1), default=default("val_images"),
              show_default=True,
              help="Fixed validation subset the proxy's mAP@0.5 is measured on.")
@imgsz_option("Input size N or WIDTHxHEIGHT. Default: the device profile's, else the "
              "checkpoint's.")
@click.option("--round-to", type=click.IntRange(min=1),
              help="Kept channels are a multiple of this. Default: the --supernet's, else "
              f"{default('round_to')}.")
@click.option("--min-channels", type=click.IntRange(min=1),
              help="Fewest channels a layer keeps. Default: the --supernet's, else "
              f"{default('min_channels')}.")
@click.option("--min-ratio", type=click.FloatRange(0, 1, min_open=True),
              help="Lowest keep ratio an agent may choose. A layer of W channels at ratio r "
              "keeps r x W rounded to the nearest multiple of --round-to, then at least "
              "--min-channels (and at least one multiple): on thin layers the last two, not "
              "--min-ratio, set how far it can be pruned. Default: the --supernet's, else "
              f"{default('min_ratio'):g}.")
@click.option("--importance", default=default("importance"), show_default=True,
              help="Channel importance criterion: l1, l2, bn_scale, random.")
@device_options(no_cache=False, device_default=default("device"),
                cache_help="Latency cache file. Default: latency.sqlite in the run folder.")
@click.option("--interleave/--no-interleave", default=default("interleave"), show_default=True,
              help="Time each candidate interleaved with the base in one window and use the "
              "ratio (drift-corrected on a busy device); --no-interleave times it alone, in "
              "half the time.")
@click.option("--robust-corruptions", metavar="NAMES",
              help="Reward a robust accuracy too: also score each candidate on a fixed subset "
              "of val corrupted by these (comma-separated names of `edgeprune eval sim2real`'s "
              "suite, or all), drawn once from --seed (docs/search.md).")
@click.option("--robust-severities", default=None, metavar="RANGE",
              help="Severities the corrupted subset draws from, e.g. 1-5 or 2,4. Default: 1-5.")
@click.option("--robust-images", type=click.IntRange(min=1), default=None,
              help=f"Corrupted val images scored per candidate. Default: "
              f"{setting_default('robust.images')}.")
@click.option("--robust-real", type=click.Path(dir_okay=False),
              help="A labelled target-domain dataset YAML (the robot's real camera): its val "
              "split scores each candidate too.")
@click.option("--robust-real-images", type=click.IntRange(min=1), default=None,
              help="A fixed subset of --robust-real's val split. Default: all of it.")
@click.option("--robust-weight", type=click.FloatRange(0, 1), default=None,
              help="Rewarded accuracy = (1 - w) x clean + w x mean(corrupted, real). Default: "
              f"{setting_default('robust.weight')}.")
@click.option("--latency-mode", type=click.Choice(["model", "measure"]),
              default=default("latency_mode"), show_default=True,
              help="model: a latency model of the device (its layer units measured once per "
              "device and base, calibrated by the networks measured) scores the candidates "
              "whose measurement could change no decision; those that could (interval across "
              "the target, a possible best or Pareto point, an audit) are measured. Every "
              "result the search reports is measured. measure: measure every candidate.")
@click.option("--audit-rate", type=click.FloatRange(0, 1), default=default("audit_rate"),
              show_default=True, help="With --latency-mode model: the share of the model's "
              "candidates measured anyway, to check it where it is trusted.")
@click.option("--measure-front/--no-measure-front", default=default("measure_front"),
              show_default=True, help="With --latency-mode model: measure a candidate that "
              "could enter the accuracy-latency Pareto front. The front is for the report "
              "(the best needs none of it) and takes most of a search's measurements; "
              "--no-measure-front gives a sparser, still measured, front for fewer of them.")
@click.option("--latency-table", type=click.Path(dir_okay=False),
              help="Per-layer latency table (edgeprune latency lut) for --agent halp. "
              "Default: measured once into the run folder.")
@click.option("--seed", type=int, default=default("seed"), show_default=True)
@bad_data_option(default("bad_data"), "Default skip, as for train: the proxy trains and scores "
                 "on the rest.")
@click.option("--out", "out_root", default="runs", show_default=True,
              help="Root of run folders; the search goes to OUT/search/NAME.")
@click.option("--name", default="exp", show_default=True, help="Run name.")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue the search in this run folder (settings from its config.yaml).")
@click.option("--cluster", metavar="ADDRESS",
              help="Evaluate candidates on a Ray cluster: `local` (a private one on this "
              "machine's CPUs), `auto` (the one `ray start` runs here), HOST:PORT or "
              "ray://HOST:PORT. Accuracy runs on worker actors, latency on one actor per device "
              "(a profile's `servers:` list is a pool of identical boards). Needs "
              "edgeprune[dist].")
@click.option("--accuracy-workers", type=click.IntRange(min=1),
              help="Accuracy workers on the cluster. Default: one per --worker-cpus CPUs.")
@deprecated_alias("--workers", "--accuracy-workers", type=click.IntRange(min=1))
@click.option("--worker-cpus", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPUs (and torch threads) each accuracy worker holds.")
@click.pass_context
def search(ctx: click.Context, **options) -> None:
    """Search a pruned network that meets a latency target measured on --device.

    \b
    edgeprune search --data robomaster.yaml --weights base.pt --target-speedup 3
    edgeprune search --data d.yaml --weights base.pt --device jetson-nano --target-latency 40ms
    edgeprune search --data d.yaml --weights base.pt --device http://10.0.0.7:8650 \\
        --token $T --target-latency 8ms --agent abcp --budget 200
    edgeprune search --data d.yaml --weights base.pt --device jetson-pool.yaml \\
        --target-latency 8ms --round-size 8 --cluster auto
    edgeprune search --resume runs/search/exp

    The agent proposes pruning specs (blocks to drop, channels to keep per layer); each is
    scored by the accuracy proxy and its latency measured on the device (cached, so no
    network is measured twice). Every candidate is appended to candidates.jsonl as it is
    evaluated; a killed search continues with --resume without repeating any. The run folder
    ends with pareto.csv, best.yaml (the spec), best.pt (pruned, BN recalibrated) and
    report.md with plots.

    With --cluster, the candidates of a round (--round-size) are evaluated side by side; the
    search records the same candidates for a seed whatever the number of workers, and
    --resume may run on another cluster or on none.
    """
    from edgeprune.errors import EdgepruneError
    from edgeprune.runs import locked_run_dir
    from edgeprune.search.loop import Search

    resume, token = options["resume"], options["token"]
    executor = _executor(options)
    if resume:
        given = [p.opts[0] for p in sorted(ctx.command.params, key=lambda p: p.name)
                 if p.name not in RESUME_KEEPS
                 and ctx.get_parameter_source(p.name) not in (ParameterSource.DEFAULT, None)]
        if given:
            raise EdgepruneError(f"--resume takes its settings from {resume}/config.yaml; "
                                 f"drop {given[0]} (only --token and the "
                                 f"cluster options may be given again)")
        with locked_run_dir(resume, "search"):
            outcome = Search.resume(resume, token=token, console=stdout,
                                    executor=executor).run()
    else:
        settings = _settings(options)
        from edgeprune.runs import new_run

        # new_run: a search refused at its start (bad data, an empty real set) leaves no
        # empty folders behind
        with new_run("search", options["name"], options["out_root"]) as run_dir:
            stdout.print(f"searching into [bold]{escape(run_dir)}[/]", highlight=False)
            with locked_run_dir(run_dir, "search"):
                outcome = Search.start(settings, run_dir, token=token, console=stdout,
                                       executor=executor).run()
    print_summary(outcome)


def _executor(options: dict):
    """The RayExecutor for --cluster (None: evaluate in this process)."""
    from edgeprune.errors import EdgepruneError

    if not options["cluster"]:
        if options["accuracy_workers"] is not None or options["worker_cpus"] != 1:
            raise EdgepruneError("--accuracy-workers and --worker-cpus need --cluster")
        return None
    from edgeprune.search.cluster import ClusterOptions, RayExecutor

    return RayExecutor(ClusterOptions(options["cluster"], options["accuracy_workers"],
                                      options["worker_cpus"]), console=stdout)


def _settings(options: dict):
    """The SearchSettings the options describe (the settings check them)."""
    from edgeprune.cli.options import parse_key_values
    from edgeprune.search.settings import SearchSettings

    values = {OPTION_SETTINGS[name]: value for name, value in options.items()
              if name in OPTION_SETTINGS}
    values["agent_options"] = parse_key_values(options["agent_items"], "--agent-option")
    values["protocol"] = parse_key_values(options["protocol_items"], "--protocol", typed=False)
    settings = SearchSettings.from_options(values)
    if options["proxy"] is None and options["supernet_path"] is None:
        stdout.print("[dim]accuracy proxy bn-recal; a weight-sharing network (edgeprune "
                     "supernet train, then --supernet) ranks candidates much closer to "
                     "their fine-tuned accuracy[/]", highlight=False)
    return settings


def print_summary(outcome) -> None:
    from rich.table import Table

    from edgeprune.search.verdict import latency_cells

    measured, best = outcome.measured_base, outcome.best
    table = Table(title=f"search: {escape(outcome.run_dir)}", title_justify="left",
                  caption="latency: median (95% interval); best: its ratio to the base in the "
                  "same window x the base's latency", caption_justify="left")
    for column in ("", "base", "best", "change"):
        table.add_column(column, justify="left" if not column else "right")
    if best is not None:
        cells = latency_cells(measured, best)
        table.add_row("measured latency (ms)", cells.base, cells.best, cells.speedup)
        table.add_row("target (ms)", "", f"{measured.target_ms:.3f}",
                      "met" if best.feasible else "[red]NOT met[/]")
        table.add_row("accuracy proxy (mAP@0.5)", f"{measured.accuracy:.4f}",
                      f"{best.accuracy:.4f}", f"{best.accuracy - measured.accuracy:+.4f}")
        base_parts = measured.accuracy_parts or {}
        for part, value in (best.accuracy_parts or {}).items():  # with a robust accuracy
            table.add_row(f"  {part}", f"{base_parts.get(part, float('nan')):.4f}",
                          f"{value:.4f}", f"{value - base_parts.get(part, float('nan')):+.4f}")
        table.add_row("GFLOPs", f"{measured.gflops:.3f}", f"{best.gflops:.3f}",
                      f"{best.gflops / measured.gflops:.3f}x")
        table.add_row("parameters", f"{measured.params:,}", f"{best.params:,}",
                      f"{best.params / measured.params:.3f}x")
        table.add_row("best step / reward", "", f"{best.step} / {best.reward:.4f}", "")
    stdout.print(table)
    records = outcome.records
    stdout.print(f"{len(records)} candidates ({outcome.replayed} from earlier sessions), "
                 f"{outcome.evaluated} evaluated and {outcome.measured} latencies measured "
                 f"in this session, {outcome.seconds / 60:.1f} min; agent "
                 f"{outcome.settings.agent}"
                 + (" finished early" if outcome.finished_early else ""), highlight=False)
    for warning in outcome.warnings:
        stdout.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
    for path in outcome.files.values():
        stdout.print(f"wrote {escape(path)}", highlight=False)
