"""Benchmark: the learning agents against random, evolution and the other baselines at
hundreds of candidates, in the regime where pruning pays, against the rivals a user would
train instead, YOLOv8 included (issue 27, item 3; issue 13's run: results/search_agents-
issue13.md).

Decided before running:

- the regime of issue 26 (benchmarks/regime.py, whose checks it passed): yolov3 width 0.5 at
  160 px on 600 generated sim images, trained until converged (`train --plateau 5`, at most 50
  epochs), its weight-sharing network 2 epochs; `--base-from` takes that benchmark's data,
  base and weight-sharing network as they are (same files, so both benchmarks share one base);
- targets 2x and 4x (speedup over the base on ort-cpu, 1 thread); per target abcp and
  rlpruner (the two best learners of issue 13's run; purl and gcn with --agents), `flops`
  (abcp learning from FLOPs), `random` and `evolution` with 3 seeds, `uniform` and `halp`
  once; budget 200 candidates; every search with the weight-sharing proxy, the same val
  subset, the device's latency model (one cache for all, no measurement for the Pareto front
  alone), the agents' settings of docs/agents.md (set on a small base by
  benchmarks/agent_scale.py, never on this benchmark's result);
- every best fine-tuned with `edgeprune finetune --teacher base` and its default budget (30%
  of the base's epochs, distillation) and scored by `edgeprune val` on the whole sim val split;
- per target, from scratch for the base's + fine-tuning's epochs: yolov3 thinner and
  yolov3-tiny at the widest width no slower than the target's best search (highest proxy mAP
  within the target), that search's architecture itself (`scratch --cfg`), and the widest
  YOLOv8 scale (n, s, m; untrained exports timed side by side with the base) no slower than
  the target, trained by ultralytics in its own environment (ultralytics_rival.py), its ONNX
  scored and timed by edgeprune like every other model;
- at the end, every final model timed side by side with the base (ONNX Runtime, 1 thread,
  interleaved rounds); issue 27's goals judged from those numbers (search_goals.py), a Pareto
  PNG beside the result file.

Everything finished is reused from --work (interrupted searches continue with `--resume`), so
a run continues where it stopped; NOTE.md in --work says what is done and what is left.
Sized for the issue's 6 hours here (SIZING).

    .venv/bin/python benchmarks/search_agents.py --work /work/exp/sa27 \
        --base-from /work/exp/regime/w0.5-160px-600img-p5-max50   # -> results/search_agents.md
    .venv/bin/python benchmarks/search_agents.py --work /tmp/sa --quick --no-yolov8  # toy
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_options import (  # noqa: E402
    SEARCH_PROTOCOL,
    add_regime_options,
    finish,
    protocol_options,
    say,
)  # noqa: E402
from machine_info import commit, machine_line, uptime  # noqa: E402
from search_goals import (  # noqa: E402
    GOAL_SEEDS,
    GOAL_TARGETS,
)
from search_pipeline import (  # noqa: E402
    rival_rows,
    run_pieces,
    scores,
    search_config,
    search_row,
)
from search_report import write_report  # noqa: E402
from search_rivals import best_search, link_regime, scratch_rivals, yolov8_jobs  # noqa: E402
from search_steps import DONE, Work, load_json, usable_cpus  # noqa: E402

AGENTS = ("abcp", "rlpruner", "flops", "random", "evolution", "uniform", "halp")
OPTIONAL_AGENTS = ("purl", "gcn")  # if the time allows (--agents)
DETERMINISTIC = ("uniform", "halp")  # run once: a second seed gives the same search
MIN_BUDGET = 200
FINETUNE_SHARE = 0.3  # `edgeprune finetune --base-share`'s default
QUICK = {"images": 48, "imgsz": 64, "width": 0.25, "max_epochs": 2, "plateau": 1,
         "supernet_epochs": 0.25, "budget": 4, "seeds": 2, "val_images": 8,
         "recal_batches": 2, "targets": [1.5], "rounds": 5,
         "agents": ["abcp", "random", "evolution", "uniform"]}
SIZING = """\
Not run yet at these sizes; estimated, not measured. Issue 26's regime benchmark (same base,
2026-12-07, 2 cores, light other work) measured per candidate on one core 3.1-4.1 s of
accuracy (20 BN batches, 60 images) and 7.8-14.1 s of latency timing (the library's protocol;
the latency model measured 45-58 of 64 candidates), 13-19 min per 64-candidate search.
With this benchmark's protocol (at most 2 x 3 s) and 10 BN batches, about 7 s a candidate:
34 searches x 200 candidates about 13 CPU-hours, plus about 5 CPU-hours of fine-tuning and
scratch training: about 9 hours on 2 cores, over the issue's 6. Run in stages (it resumes);
a machine with more cores divides the searches' share by its cores (--jobs). Every search
shares one latency cache (WORK/search-latency.sqlite) and the latency model beside it,
so a network is timed once and later searches measure fewer candidates: not counted above."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench" / "search_agents",
                        help="data, base, weight-sharing network and runs (reused)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "search_agents.md",
                        help="result file (the Pareto PNG goes beside it)")
    parser.add_argument("--base-from", type=Path, metavar="REGIME_FOLDER",
                        help="a regime benchmark's folder (benchmarks/regime.py, e.g. "
                        "WORK/w0.5-160px-600img-p5-max50): its data, converged base and "
                        "weight-sharing network are used as they are")
    add_regime_options(parser)
    parser.add_argument("--targets", type=float, nargs="+", default=list(GOAL_TARGETS),
                        help="target speedups over the base")
    parser.add_argument("--agents", nargs="+", default=list(AGENTS),
                        choices=[*AGENTS, *OPTIONAL_AGENTS])
    parser.add_argument("--seeds", type=int, default=GOAL_SEEDS,
                        help="seeds 0..N-1 per agent (uniform and halp: once)")
    parser.add_argument("--budget", type=int, default=MIN_BUDGET, help="candidates per search")
    parser.add_argument("--val-images", type=int, default=60,
                        help="the fixed val subset every search scores on (also fine-tuning's "
                        "per-epoch check)")
    parser.add_argument("--recal-batches", type=int, default=10,
                        help="BN re-estimation batches (of 8) per candidate")
    parser.add_argument("--finetune-epochs", type=int,
                        help="fine-tuning epochs (default: finetune's own, a share of the "
                        "base's epochs)")
    parser.add_argument("--protocol", action="append", default=[], metavar="FIELD=VALUE",
                        help="latency protocol override for the searches and the scratch width "
                        "matching, after the benchmark's own "
                        f"({', '.join(SEARCH_PROTOCOL)}; repeatable)")
    parser.add_argument("--no-scratch", action="store_true", help="skip the scratch models")
    parser.add_argument("--no-yolov8", action="store_true",
                        help="skip the YOLOv8 rival (it needs an environment of several GB)")
    parser.add_argument("--yolov8-env", type=Path,
                        help="the ultralytics environment (default: WORK/ultralytics-env, made "
                        "once)")
    parser.add_argument("--rounds", type=int, default=40, help="side-by-side latency rounds")
    args = finish(parser, QUICK)
    args.yolov8_env = (args.yolov8_env or args.work / "ultralytics-env").resolve()
    return args


def planned_searches(args) -> list[dict]:
    """Every search, in the order run: per target, per agent, per seed."""
    searches = []
    for target in args.targets:
        for agent in args.agents:
            for seed in [0] if agent in DETERMINISTIC else range(args.seeds):
                suffix = "" if agent in DETERMINISTIC else f"-s{seed}"
                searches.append({"name": f"{target:g}x-{agent}{suffix}", "target": target,
                                 "agent": agent, "seed": seed})
    return searches


def search_options(args, search: dict, data: Path, base: Path, supernet: Path,
                   cache: Path) -> list[str]:
    # one latency cache for every search (same base, device and threads): a network is
    # measured once, and the latency model each search fits starts from every measurement
    # made before it, instead of each search measuring most of its first candidates again;
    # nothing is measured for the Pareto front alone: the results are the bests, fine-tuned
    # and timed side by side at the end (agent_scale.py saw the front's measurements take
    # most of a search's)
    return ["--data", str(data), "--weights", str(base), "--supernet", str(supernet),
            "--device", "cpu", "--ort-threads", "1", "--target-speedup", f"{search['target']:g}",
            "--agent", search["agent"], "--budget", str(args.budget), "--val-images",
            str(args.val_images), "--recal-batches", str(args.recal_batches), "--imgsz",
            str(args.imgsz), "--seed", str(search["seed"]), "--latency-cache", str(cache),
            "--no-measure-front",
            *protocol_options(args, args.protocol)]


def scope(args) -> list[str]:
    """How this run differs from the full design (the goals say what that leaves open)."""
    gaps = []
    missing = [t for t in GOAL_TARGETS if t not in args.targets]
    if missing:
        gaps.append("targets not run: " + ", ".join(f"{t:g}x" for t in missing))
    absent = [a for a in AGENTS if a not in args.agents]
    if absent:
        gaps.append("agents not run: " + ", ".join(absent))
    if args.seeds < GOAL_SEEDS:
        gaps.append(f"{args.seeds} seed(s) per agent; the goals ask for {GOAL_SEEDS}")
    if args.budget < MIN_BUDGET:
        gaps.append(f"budget {args.budget} candidates; the issue asks for >= {MIN_BUDGET}")
    if args.protocol:
        gaps.append(f"latency protocol overridden beyond the benchmark's own: "
                    f"{', '.join(args.protocol)}")
    if args.no_scratch:
        gaps.append("no scratch models (--no-scratch)")
    if args.no_yolov8:
        gaps.append("no YOLOv8 (--no-yolov8)")
    if (args.imgsz, args.images) != (160, 600):
        gaps.append(f"{args.images} images at {args.imgsz} px; issue 26's regime is 600 at "
                    f"160 px")
    if args.width != 0.5:
        gaps.append(f"base width {args.width:g}; the issue asks for 0.5")
    return gaps


def write_note(args, work: Work, searches: list[dict]) -> None:
    """NOTE.md in --work: which pieces are done and what is left."""
    def done(kind: str, names: list[str]) -> str:
        finished = sum((work.runs / kind / n / DONE).is_file() for n in names)
        return f"{finished}/{len(names)}"

    names = [s["name"] for s in searches]
    lines = [f"# agents benchmark (budget {args.budget}, {args.seeds} seeds)", "",
             f"- base: {'done' if (work.root / 'base' / DONE).is_file() else 'left'}",
             f"- weight-sharing network: "
             f"{'done' if (work.runs / 'supernet' / 'base' / DONE).is_file() else 'left'}",
             f"- searches: {done('search', names)} done",
             f"- fine-tunings: {done('finetune', names)} done",
             f"- scratch rivals done: "
             f"{len(list((work.runs / 'scratch').glob('*/' + DONE)))}",
             f"- YOLOv8 trainings done: {len(list((work.root / 'yolov8').glob('*-trained.json')))}",
             f"- report: {'written' if args.out.is_file() else 'left'} ({args.out})"]
    (work.root / "NOTE.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    loads = {"start": uptime()}
    cpus = usable_cpus()
    if not 1 <= args.jobs <= len(cpus):
        sys.exit(f"--jobs {args.jobs}: this process may use {len(cpus)} CPU(s)")
    work = Work(args.work, cpus[:args.jobs])
    searches = planned_searches(args)
    write_note(args, work, searches)

    if args.base_from:
        from regime import regime_label

        link_regime(args.base_from, work, regime_label(args))
    (data, search_data), (base, base_info), (supernet, supernet_info) = \
        work.converged(args, say)
    loads["after the base"] = uptime()
    from edgeprune.train.finetune import share_of_base

    finetune_epochs = args.finetune_epochs or share_of_base(base, FINETUNE_SHARE)[0]
    epochs = base_info["epochs"] + finetune_epochs  # every rival: base + fine-tuning

    def rivals() -> list:
        write_note(args, work, searches)
        return ([] if args.no_scratch else
                scratch_rivals(work, {t: best_search(searches, t) for t in args.targets},
                               epochs))

    def others() -> list:
        return ([] if args.no_yolov8 else
                yolov8_jobs(work, args.yolov8_env, base, data, args.targets, epochs,
                            args.imgsz, args.rounds, say))

    try:
        finals = run_pieces(work, args.jobs, searches,
                            lambda search: search_options(
                                args, search, search_data, base, supernet,
                                work.root / "search-latency.sqlite"),
                            base, data, args.finetune_epochs, args.val_images, rivals,
                            protocol_options(args, args.protocol), args.imgsz, args.rounds,
                            say, loads, others)
    finally:
        write_note(args, work, searches)
    latency, base_score = finals["latency"], finals["base_score"]
    loads["end"] = uptime()
    base_ms = latency["base"]["median_ms"]
    runs = [search_row(search, latency[search["name"]], base_ms) for search in searches]
    trained = rival_rows(finals["scratch"], latency, base_ms)
    context = {
        "recorded": dt.datetime.now().isoformat(timespec="seconds"),
        "command": shlex.join([".venv/bin/python", "benchmarks/search_agents.py",
                               *sys.argv[1:]]),
        "commit": commit(), "machine": machine_line(), "loads": loads,
        "seconds": time.perf_counter() - began,
        "final_seconds": finals["final_seconds"], "scope": scope(args),
        "targets": args.targets, "runs": runs, "scratch": trained,
        "base": {"ms": base_ms, **scores(base_score), "images": base_score["images"]},
        "base_info": base_info, "supernet_info": supernet_info,
        "finetune_epochs": finetune_epochs, "scratch_epochs": epochs,
        "data_timing": load_json(data.parent / "benchmark.json") or {},
        "search_configs": {s["name"]: search_config(work, s["name"]) for s in searches},
        "commands": work.commands}
    write_report(args, context, SIZING)
    write_note(args, work, searches)


if __name__ == "__main__":
    main()
