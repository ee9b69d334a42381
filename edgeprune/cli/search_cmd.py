"""`edgeprune search`: RL pruning search with measured latency in the reward."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from edgeprune.cli.app import stdout
from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.cli.options import imgsz_option
from edgeprune.console import escape
from edgeprune.latency.tokens import TOKEN_ENV

# the only options that mean something with --resume: the rest is the run's config.yaml
RESUME_KEEPS = {"resume", "token", "cluster", "workers", "worker_cpus"}
NOT_SETTINGS = RESUME_KEEPS | {"out_root", "name"}


def _key_values(items: tuple[str, ...], option: str) -> dict:
    import yaml

    from edgeprune.errors import EdgepruneError

    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise EdgepruneError(f"{option} {item!r}: expected KEY=VALUE")
        try:
            values[key.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            values[key.strip()] = text
    return values


@click.command()
@click.option("--data", help="Dataset YAML: the train split feeds the accuracy proxy, a fixed "
              "subset of val scores it.")
@click.option("--weights", "-w", help="Base model checkpoint (.pt), e.g. from edgeprune train.")
@click.option("--device", "-d", default="cpu", show_default=True,
              help="Where latency is measured: a registered device (edgeprune device add), a "
              "profile name (robots/NAME.yaml), a profile .yaml, or a server http://HOST:PORT.")
@click.option("--target-latency", help="Latency target on the device, e.g. 8ms (a bare number "
              "is milliseconds).")
@click.option("--target-speedup", type=float, help="Target as a speedup over the base model's "
              "latency measured on the same device, e.g. 3.")
@click.option("--agent", default="abcp", show_default=True,
              help="Search agent: abcp, purl, rlpruner, gcn, or the baselines flops, uniform, "
              "random, halp (latency knapsack on the device's per-layer table).")
@click.option("--agent-option", "agent_items", multiple=True, metavar="KEY=VALUE",
              help="Agent-specific setting (repeatable), e.g. --agent-option spread=0.2.")
@click.option("--budget", type=click.IntRange(min=1), default=40, show_default=True,
              help="Candidates to evaluate.")
@click.option("--round-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Candidates the agent proposes together before it learns from them: up to "
              "this many are evaluated side by side with --cluster. A setting of the search "
              "(what a seed proposes depends on it, never on the number of workers).")
@click.option("--reward", "reward_kind", type=click.Choice(["soft", "hard"]), default="hard",
              show_default=True, help="hard: accuracy within the target, a penalty growing "
              "with the miss beyond it (a budget); soft: accuracy x (latency/target)^w "
              "(MnasNet) (docs/search.md).")
@click.option("--reward-alpha", type=float, default=0.0, show_default=True,
              help="soft reward exponent within the target.")
@click.option("--reward-beta", type=click.FloatRange(max=0), default=-0.5, show_default=True,
              help="soft reward exponent over the target.")
@click.option("--proxy", type=click.Choice(["bn-recal", "finetune", "pruningnet", "slimmable"]),
              help="Accuracy proxy: bn-recal (BN re-estimation of the pruned base), finetune "
              "(a few training steps, then BN re-estimation), pruningnet or slimmable (weights "
              "from the --supernet file, then BN re-estimation). Default: the --supernet "
              "file's form, else bn-recal.")
@click.option("--supernet", "supernet_path", type=click.Path(dir_okay=False),
              help="Weight-sharing network of --weights (edgeprune supernet train): candidates "
              "get its trained weights; its channel grid becomes the search's.")
@click.option("--recal-batches", type=click.IntRange(min=1), default=20, show_default=True,
              help="Training batches for BN recalibration (K).")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per recalibration / fine-tuning batch.")
@click.option("--finetune-steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Training steps per candidate with --proxy finetune.")
@click.option("--val-images", type=click.IntRange(min=1), default=100, show_default=True,
              help="Fixed validation subset the proxy's mAP@0.5 is measured on.")
@imgsz_option("Input size N or WIDTHxHEIGHT. Default: the device profile's, else the "
              "checkpoint's.")
@click.option("--round-to", type=click.IntRange(min=1),
              help="Kept channels are a multiple of this. Default: the --supernet's, else 8.")
@click.option("--min-channels", type=click.IntRange(min=1),
              help="Fewest channels a layer keeps. Default: the --supernet's, else 8.")
@click.option("--min-ratio", type=click.FloatRange(0, 1, min_open=True),
              help="Lowest keep ratio an agent may choose. Default: the --supernet's, else "
              "0.125.")
@click.option("--importance", default="l1", show_default=True,
              help="Channel importance criterion: l1, l2, bn_scale, random.")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]),
              help="Measured precision. Default: the profile's.")
@click.option("--ort-threads", type=click.IntRange(min=0),
              help="ONNX Runtime intra-op threads of ort-cpu (0: one per CPU). Default: the "
              "profile's.")
@deprecated_alias("--threads", "--ort-threads", type=click.IntRange(min=0))
@click.option("--protocol", "protocol_items", multiple=True, metavar="FIELD=VALUE",
              help="Override a latency protocol field (repeatable; docs/latency.md).")
@click.option("--interleave/--no-interleave", default=True, show_default=True,
              help="Time each candidate interleaved with the base in one window and use the "
              "ratio (drift-corrected on a busy device); --no-interleave times it alone, in "
              "half the time.")
@click.option("--latency-table", type=click.Path(dir_okay=False),
              help="Per-layer latency table (edgeprune latency lut) for --agent halp. "
              "Default: measured once into the run folder.")
@click.option("--latency-cache", type=click.Path(dir_okay=False),
              help="Latency cache file. Default: latency.sqlite in the run folder.")
@click.option("--token", envvar=TOKEN_ENV, show_envvar=True,
              help="Token of a device server (never written to the run folder).")
@click.option("--seed", type=int, default=0, show_default=True)
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
@click.option("--workers", type=click.IntRange(min=1),
              help="Accuracy workers on the cluster. Default: one per --worker-cpus CPUs.")
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
        settings = _settings(**{k: v for k, v in options.items() if k not in NOT_SETTINGS})
        from edgeprune.runs import new_run_dir

        run_dir = new_run_dir("search", options["name"], options["out_root"])
        stdout.print(f"searching into [bold]{escape(run_dir)}[/]", highlight=False)
        with locked_run_dir(run_dir, "search"):
            outcome = Search.start(settings, run_dir, token=token, console=stdout,
                                   executor=executor).run()
    print_summary(outcome)


def _executor(options: dict):
    """The RayExecutor for --cluster (None: evaluate in this process)."""
    from edgeprune.errors import EdgepruneError

    if not options["cluster"]:
        if options["workers"] is not None or options["worker_cpus"] != 1:
            raise EdgepruneError("--workers and --worker-cpus need --cluster")
        return None
    from edgeprune.search.cluster import ClusterOptions, RayExecutor

    return RayExecutor(ClusterOptions(options["cluster"], options["workers"],
                                      options["worker_cpus"]), console=stdout)


def _settings(*, data, weights, device, target_latency, target_speedup, agent, agent_items,
              budget, round_size, reward_kind, reward_alpha, reward_beta, proxy,
              supernet_path, recal_batches, batch, finetune_steps, val_images, imgsz,
              round_to, min_channels, min_ratio, importance, precision, ort_threads,
              protocol_items, interleave, latency_table, latency_cache, seed):
    from edgeprune.cli.latency_cmds import parse_protocol_items
    from edgeprune.errors import EdgepruneError
    from edgeprune.latency.protocol import Protocol
    from edgeprune.prune.importance import get_importance
    from edgeprune.search.agents.base import AGENTS
    from edgeprune.search.proxy import ProxySettings
    from edgeprune.search.reward import RewardConfig
    from edgeprune.search.settings import SearchSettings
    from edgeprune.search.target import Target, parse_latency_ms

    if not data:
        raise EdgepruneError("--data is required (a dataset YAML; its train split feeds the "
                             "accuracy proxy, its val split scores it)")
    if not weights:
        raise EdgepruneError("--weights is required (the base model checkpoint, .pt)")
    for path, what in ((data, "--data"), (weights, "--weights")):
        if not Path(path).exists():
            raise EdgepruneError(f"{path}: {what} not found")
    AGENTS.get(agent)  # an unknown agent fails here, naming the known ones
    if target_latency is not None and target_speedup is not None:
        raise EdgepruneError("give --target-latency or --target-speedup, not both")
    target = Target(latency_ms=parse_latency_ms(target_latency)
                    if target_latency is not None else None, speedup=target_speedup)
    proxy, grid = _proxy_and_grid(proxy, supernet_path, round_to, min_channels, min_ratio)
    protocol = parse_protocol_items(protocol_items)
    Protocol().with_overrides(protocol, "--protocol")  # bad fields fail before any work
    get_importance(importance)
    return SearchSettings(
        weights=str(Path(weights).resolve()), data=str(Path(data).resolve()), target=target,
        device=device, precision=precision, threads=ort_threads, protocol=protocol,
        latency_cache=str(Path(latency_cache).resolve()) if latency_cache else None,
        agent=agent, agent_options=_key_values(agent_items, "--agent-option"), budget=budget,
        round_size=round_size,
        reward=RewardConfig(kind=reward_kind, alpha=reward_alpha, beta=reward_beta),
        proxy=proxy, proxy_settings=ProxySettings(
            recal_batches=recal_batches, batch_size=batch, finetune_steps=finetune_steps,
            supernet=str(Path(supernet_path).resolve()) if supernet_path else None, seed=seed),
        val_images=val_images, imgsz=imgsz, **grid,
        importance=importance, seed=seed, interleave=interleave,
        latency_table=str(Path(latency_table).resolve()) if latency_table else None)


def _proxy_and_grid(proxy, supernet_path, round_to, min_channels, min_ratio):
    """The proxy and the channel grid: a weight-sharing network brings its own grid, and a
    search must stay inside it."""
    from edgeprune.errors import EdgepruneError

    weight_sharing = ("pruningnet", "slimmable")
    if supernet_path is None:
        if proxy in weight_sharing:
            raise EdgepruneError(f"--proxy {proxy} reads a weight-sharing network: give "
                                 f"--supernet FILE (edgeprune supernet train --form {proxy})")
        if proxy is None:
            stdout.print("[dim]accuracy proxy bn-recal; a weight-sharing network (edgeprune "
                         "supernet train, then --supernet) ranks candidates much closer to "
                         "their fine-tuned accuracy[/]", highlight=False)
        return proxy or "bn-recal", {"round_to": round_to or 8, "min_channels": min_channels
                                     or 8, "min_ratio": min_ratio or 0.125}
    from edgeprune.supernet.file import read_supernet_data

    data = read_supernet_data(supernet_path)
    if proxy is not None and proxy not in weight_sharing:
        raise EdgepruneError(f"--supernet is read by the pruningnet and slimmable proxies, "
                             f"not by --proxy {proxy}")
    rules = data["rules"]
    for value, key, option in ((round_to, "round_to", "--round-to"),
                               (min_channels, "min_channels", "--min-channels")):
        if value is not None and value != rules[key]:
            raise EdgepruneError(f"{option} {value}: {supernet_path} was trained with "
                                 f"{option} {rules[key]}; the search must use its grid")
    if min_ratio is not None and min_ratio < rules["min_ratio"]:
        raise EdgepruneError(f"--min-ratio {min_ratio:g}: {supernet_path} covers keep ratios "
                             f"down to {rules['min_ratio']:g} only")
    return proxy or data["form"], {"round_to": rules["round_to"],
                                   "min_channels": rules["min_channels"],
                                   "min_ratio": min_ratio or rules["min_ratio"]}


def print_summary(outcome) -> None:
    from rich.table import Table

    baseline, best = outcome.baseline, outcome.best
    table = Table(title=f"search: {escape(outcome.run_dir)}", title_justify="left")
    for column in ("", "base", "best", "change"):
        table.add_column(column, justify="left" if not column else "right")
    if best is not None:
        table.add_row("measured latency (ms)", f"{baseline.latency_ms:.3f}",
                      f"{best.latency_ms:.3f}",
                      f"{baseline.latency_ms / best.latency_ms:.2f}x faster")
        table.add_row("target (ms)", "", f"{baseline.target_ms:.3f}",
                      "met" if best.feasible else "[red]NOT met[/]")
        table.add_row("accuracy proxy (mAP@0.5)", f"{baseline.accuracy:.4f}",
                      f"{best.accuracy:.4f}", f"{best.accuracy - baseline.accuracy:+.4f}")
        table.add_row("GFLOPs", f"{baseline.gflops:.3f}", f"{best.gflops:.3f}",
                      f"{best.gflops / baseline.gflops:.3f}x")
        table.add_row("parameters", f"{baseline.params:,}", f"{best.params:,}",
                      f"{best.params / baseline.params:.3f}x")
        table.add_row("best step / reward", "", f"{best.step} / {best.reward:.4f}", "")
    stdout.print(table)
    records = outcome.records
    stdout.print(f"{len(records)} candidates ({outcome.replayed} from earlier sessions), "
                 f"{outcome.evaluated} evaluated and {outcome.measured} latencies measured "
                 f"in this session, {outcome.seconds / 60:.1f} min; agent "
                 f"{outcome.settings.agent}"
                 + (" finished early" if outcome.finished_early else ""), highlight=False)
    for path in outcome.files.values():
        stdout.print(f"wrote {escape(path)}", highlight=False)
