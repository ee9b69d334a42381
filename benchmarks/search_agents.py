"""Benchmark: the RL search agents against the baselines at equal budget, over seeds, at two
latency targets, from a base with room to prune (issue 13, item 4).

Decided before running:

- base: yolov3 width 0.5 trained from scratch on generated sim data (`edgeprune data synth`,
  `edgeprune train`), then its weight-sharing network (`edgeprune supernet train`, the default
  form), both cached in --work with their training time;
- targets 2x and 4x (speedup over the base on ort-cpu, 1 thread); per target the RL agents
  abcp, purl, rlpruner, gcn and the FLOPs-reward agent `flops`, and `random`, with 3 seeds
  each, `uniform` and `halp` (deterministic) once; every search with the weight-sharing proxy
  (`--supernet`), the same budget, the same val subset, `--threads 1`;
- every search's best fine-tuned the same way (`edgeprune finetune --teacher base`, same
  epochs, distillation, seed 0) and scored by `edgeprune val` on the whole sim val split;
- per target `edgeprune scratch --match` (the target's first search: abcp seed 0 by default)
  for base + fine-tuning epochs: yolov3 at the matched width and yolov3-tiny at the widest
  width up to 1 that matches;
- at the end, every final model timed side by side with the base (ONNX Runtime, 1 thread,
  interleaved rounds), so every latency column comes from one window; then issue 13's goals
  evaluated from those numbers (search_goals.py) and a Pareto PNG beside the result file.

Runs the documented user commands as subprocesses (search_steps.py). Everything finished is
reused from --work (an interrupted search continues with `edgeprune search --resume`, the
base and weight-sharing trainings with their --resume), so a run can be completed later;
delete --work to start over.

Sizes (defaults) and what they cost on this machine: SIZING below. The first design (1000
images at 160 px, the library's latency protocol, one piece at a time) measured about 15 hours
on one core, most of it timing latency; the defaults now are 800 images at 128 px, each
search's latency to +-3% in at most 2 x 3 s (SEARCH_PROTOCOL), and pieces on every CPU at
once (--jobs), sized for the issue's 2 hours.

    .venv/bin/python benchmarks/search_agents.py     # -> benchmarks/results/search_agents.md
    nice -n 15 .venv/bin/python benchmarks/search_agents.py --work /tmp/sa --images 48 \\
        --imgsz 64 --width 0.25 --base-epochs 1 --supernet-epochs 0.5 --budget 4 --seeds 2 \\
        --finetune-epochs 1 --out /tmp/sa.md                               # a quick look
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
from machine_info import commit, machine_line, uptime  # noqa: E402
from search_goals import (  # noqa: E402
    GOAL_SEEDS,
    GOAL_TARGETS,
    RL_AGENTS,
)
from search_pipeline import (  # noqa: E402
    Rival,
    rival_rows,
    run_pieces,
    scores,
    search_config,
    search_row,
)
from search_report import write_report  # noqa: E402
from search_steps import Work, load_json, usable_cpus  # noqa: E402

AGENTS = (*RL_AGENTS, "flops", "random", "uniform", "halp")
DETERMINISTIC = ("uniform", "halp")  # run once: a second seed gives the same search
MIN_BUDGET = 32
# Each search times its candidates to +-3% (the goals' latency tolerance) in at most 2 x 3 s
# of interleaved pairs, not the library's +-2% in up to 2 x 20 s: that took 91% of a search
# here (SIZING). The search needs the ratio to tell feasible from not; the latency columns of
# the result come from the side-by-side timing of every final model at the end.
SEARCH_PROTOCOL = ("target_rel_ci=0.03", "max_seconds=3")
SIZING = """\
Measured 2026-12-01 on this machine (AMD EPYC, 2 cores, --jobs 2, nothing else running but
light set-up work): the full default design (40 searches of 32 candidates, 40 fine-tunings, 4
scratch models) in 122 min: base yolov3 width 0.5, 128 px, 640 train images, 10 epochs 9.0
min (0.551 mAP@0.5 on the 60-image val subset); pruningnet network 2 epochs 5.8 min; each
search about 5 min on one core (about 5.5 s of latency timing and 2.7 s of accuracy per
candidate), 2.4 min wall per search with two at a time. The first design (1000 images,
160 px, the library's protocol) measured about 15 h on one core."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench" / "search_agents",
                        help="data, base, weight-sharing network and runs (reused)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "search_agents.md",
                        help="result file (the Pareto PNG goes beside it)")
    parser.add_argument("--images", type=int, default=800,
                        help="generated sim images (80%% train, 20%% val)")
    parser.add_argument("--imgsz", type=int, default=128, help="network input size")
    parser.add_argument("--width", type=float, default=0.5, help="base yolov3 width")
    parser.add_argument("--base-epochs", type=int, default=10)
    parser.add_argument("--supernet-epochs", type=float, default=2.0)
    parser.add_argument("--targets", type=float, nargs="+", default=list(GOAL_TARGETS),
                        help="target speedups over the base")
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS)
    parser.add_argument("--seeds", type=int, default=GOAL_SEEDS,
                        help="seeds 0..N-1 per agent (uniform and halp: once)")
    parser.add_argument("--budget", type=int, default=MIN_BUDGET, help="candidates per search")
    parser.add_argument("--val-images", type=int, default=60,
                        help="the fixed val subset every search scores on (also fine-tuning's "
                        "per-epoch check)")
    parser.add_argument("--recal-batches", type=int, default=10,
                        help="BN re-estimation batches (of 8) per candidate")
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--protocol", action="append", default=[], metavar="FIELD=VALUE",
                        help="latency protocol override for the searches and the scratch width "
                        "matching, after the benchmark's own "
                        f"({', '.join(SEARCH_PROTOCOL)}; repeatable)")
    parser.add_argument("--jobs", type=int, default=len(usable_cpus()),
                        help="searches, fine-tunings and scratch trainings run this many at a "
                        "time, each pinned to its own CPU (default: every CPU this process may "
                        "use); the base and the weight-sharing network use all of them")
    parser.add_argument("--no-scratch", action="store_true", help="skip the scratch models")
    parser.add_argument("--rounds", type=int, default=40, help="side-by-side latency rounds")
    args = parser.parse_args()
    args.work = args.work.resolve()
    args.out = args.out.resolve()
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


def search_options(args, search: dict, data: Path, base: Path, supernet: Path) -> list[str]:
    return ["--data", str(data), "--weights", str(base), "--supernet", str(supernet),
            "--device", "cpu", "--ort-threads", "1", "--target-speedup", f"{search['target']:g}",
            "--agent", search["agent"], "--budget", str(args.budget), "--val-images",
            str(args.val_images), "--recal-batches", str(args.recal_batches), "--imgsz",
            str(args.imgsz), "--seed", str(search["seed"]), *protocol_options(args)]


def protocol_options(args) -> list[str]:
    items = [*SEARCH_PROTOCOL, *args.protocol]
    return [option for item in items for option in ("--protocol", item)]


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
    if args.width != 0.5:
        gaps.append(f"base width {args.width:g}; the issue asks for 0.5")
    return gaps


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    loads = {"start": uptime()}
    cpus = usable_cpus()
    if not 1 <= args.jobs <= len(cpus):
        sys.exit(f"--jobs {args.jobs}: this process may use {len(cpus)} CPU(s)")
    work = Work(args.work, cpus[:args.jobs])

    def say(text: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)

    say("data")
    data, search_data = work.data(args.images, args.val_images)
    say("base model")
    base, base_info = work.base(data, args.imgsz, args.width, args.base_epochs,
                                args.val_images)
    say("weight-sharing network")
    supernet, supernet_info = work.supernet(base, data, args.supernet_epochs)
    loads["after the base"] = uptime()
    searches = planned_searches(args)
    # per target, the scratch rivals match the target's first search (abcp seed 0 by default)
    rivals = [Rival(f"{target:g}x-{model}", model, model, target, mine[0]["name"],
                    args.base_epochs + args.finetune_epochs,
                    ["--model", model, "--match", str(work.runs / "search" / mine[0]["name"])])
              for target in args.targets
              if (mine := [s for s in searches if s["target"] == target])
              and not args.no_scratch for model in ("yolov3", "yolov3-tiny")]
    finals = run_pieces(work, args.jobs, searches,
                        lambda search: search_options(args, search, search_data, base,
                                                      supernet),
                        base, data, args.finetune_epochs, args.val_images, rivals,
                        protocol_options(args), args.imgsz, args.rounds, say, loads)
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
        "data_timing": load_json(data.parent / "benchmark.json") or {},
        "search_configs": {s["name"]: search_config(work, s["name"]) for s in searches},
        "commands": work.commands}
    write_report(args, context, SIZING)


if __name__ == "__main__":
    main()
