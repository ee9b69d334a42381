"""Benchmark: what the learning agents need to use a budget of hundreds of candidates, set on a
small base before the agents benchmark (issue 27, item 2).

The agents were sized for a few dozen candidates (docs/agents.md, "Small budgets"). This run
asks, on a base that is NOT the agents benchmark's (so no setting is fitted to its result),
whether their defaults keep improving over 300 candidates, and which of a few settings fixed
in advance does best. Decided before running:

- base: yolov3 width 0.5 at 128 px on 300 generated sim images, trained until converged
  (`train --plateau 3`, at most 20 epochs), its weight-sharing network 1 epoch; target 2.5x
  (between the agents benchmark's 2x and 4x, and not one of them); ONNX Runtime CPU, 1 thread,
  the device's latency model (`--latency-mode model`), one latency cache shared by every
  search (a network is measured once, and every setting sees the same measurements), and no
  measurement for the Pareto front alone (`--no-measure-front`: what is compared is the best,
  and the front's measurements took 53-82 of a search's first 109-145 candidates here);
- a cheap proxy, the same for every search: 30 val images, 5 BN re-estimation batches;
- budget 300, seeds 0 and 1, every setting of SETTINGS (random and evolution as references);
- per search: the best reward found after 50, 100, 200 and 300 candidates (the search's own
  rule: measured, within the target), and how far the proposals moved (mean reward of the
  last 50 proposals minus the first 50): an agent that learns at scale keeps raising both;
- the rule that picks an agent's setting (applied as written, never re-tuned): the setting
  with the highest mean best reward at the full budget replaces the agent's default only when
  it beats the default by more than the larger of the two seeds' spreads; otherwise the
  default stays. docs/agents.md records the table and the choice.

Resumable: every finished piece is reused from --work (search_steps.Work).

    .venv/bin/python benchmarks/agent_scale.py --work /work/exp/agent_scale  # -> results/
    .venv/bin/python benchmarks/agent_scale.py --work /tmp/as --quick          # toy sizes
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from bench_options import add_regime_options, finish, protocol_options, say  # noqa: E402
from machine_info import commit, machine_line, uptime  # noqa: E402
from search_steps import Work, save_json, usable_cpus  # noqa: E402

# name -> (agent, --agent-option values, other search options); the first of an agent's
# settings is its default
SETTINGS: dict[str, tuple[str, list[str], list[str]]] = {
    "random": ("random", [], []),
    "evolution": ("evolution", [], []),
    "abcp": ("abcp", [], []),
    "abcp lr 0.003, average 0.95": ("abcp", ["lr=0.003", "average_decay=0.95"], []),
    "abcp lr 0.03": ("abcp", ["lr=0.03"], []),
    "abcp entropy 0.001": ("abcp", ["entropy=0.001"], []),
    "abcp rounds of 8": ("abcp", [], ["--round-size", "8"]),
    "rlpruner": ("rlpruner", [], []),
    "rlpruner 12 samples an update": ("rlpruner", ["samples_per_update=12"], []),
    "rlpruner lr 0.03": ("rlpruner", ["lr=0.03"], []),
}
CHECKPOINTS = (50, 100, 200, 300)
WINDOW = 50  # proposals the early and late mean rewards are taken over
QUICK = {"images": 48, "imgsz": 64, "width": 0.25, "max_epochs": 2, "plateau": 1,
         "supernet_epochs": 0.25, "budget": 12, "seeds": 1, "val_images": 8,
         "recal_batches": 2}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench" / "agent_scale")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "agent_scale.md")
    add_regime_options(parser, images=300, imgsz=128, max_epochs=20, plateau=3,
                       supernet_epochs=1.0)
    parser.add_argument("--target", type=float, default=2.5, help="target speedup")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--val-images", type=int, default=30)
    parser.add_argument("--recal-batches", type=int, default=5)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS),
                        default=list(SETTINGS), metavar="NAME", help="settings to run")
    return finish(parser, QUICK)


def run_name(setting: str, seed: int) -> str:
    return f"{setting.replace(', ', '-').replace(' ', '-')}-s{seed}"


def search_options(args, setting: str, seed: int, data: Path, base: Path,
                   supernet: Path, cache: Path) -> list[str]:
    agent, agent_options, extra = SETTINGS[setting]
    return ["--data", str(data), "--weights", str(base), "--supernet", str(supernet),
            "--device", "cpu", "--ort-threads", "1", "--target-speedup", f"{args.target:g}",
            "--agent", agent, *[x for o in agent_options for x in ("--agent-option", o)],
            *extra, "--budget", str(args.budget), "--val-images", str(args.val_images),
            "--recal-batches", str(args.recal_batches), "--imgsz", str(args.imgsz),
            "--latency-cache", str(cache), "--no-measure-front", "--seed", str(seed),
            *protocol_options(args)]


def trajectory(folder: Path, checkpoints: list[int]) -> dict:
    """A finished search's best reward after each checkpoint (the search's own rule over the
    first n candidates), and its proposals' early and late mean rewards."""
    from edgeprune.search.records import CandidateLog
    from edgeprune.search.results import best_record

    records = sorted(CandidateLog(folder).read(), key=lambda r: r.step)
    best_after = {}
    for n in checkpoints:
        if n <= len(records):
            best = best_record(records[:n])
            best_after[n] = best.reward if best is not None and best.feasible else 0.0
    window = min(WINDOW, len(records) // 2) or 1
    rewards = [r.reward for r in records]
    curve, best = [], 0.0
    for record in records:
        if record.measured and record.feasible:
            best = max(best, record.reward)
        curve.append(best)
    return {"best_after": best_after, "curve": curve,
            "early": statistics.fmean(rewards[:window]),
            "late": statistics.fmean(rewards[-window:]),
            "feasible_share": sum(r.feasible for r in records) / max(len(records), 1)}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def choices(summary: dict[str, dict], budget: int) -> dict[str, str]:
    """The setting each learning agent keeps, by the rule in the module docstring."""
    chosen = {}
    for agent in sorted({SETTINGS[s][0] for s in summary} - {"random", "evolution"}):
        mine = [s for s in summary if SETTINGS[s][0] == agent]
        default = next((s for s in SETTINGS if SETTINGS[s][0] == agent), mine[0])
        if default not in summary:
            continue
        best = max(mine, key=lambda s: summary[s]["best"][budget][0])
        margin = max(summary[best]["best"][budget][1], summary[default]["best"][budget][1])
        gain = summary[best]["best"][budget][0] - summary[default]["best"][budget][0]
        chosen[agent] = best if best != default and gain > margin else default
    return chosen


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    loads = {"start": uptime()}
    work = Work(args.work, usable_cpus()[:args.jobs])
    work.root.mkdir(parents=True, exist_ok=True)
    (data, search_data), (base, base_info), (supernet, supernet_info) = \
        work.converged(args, say)
    cache = work.root / "latency.sqlite"
    runs = [(setting, seed) for seed in range(args.seeds) for setting in args.settings]
    checkpoints = [n for n in CHECKPOINTS if n < args.budget] + [args.budget]

    def searched(number: int, setting: str, seed: int) -> dict:
        name = run_name(setting, seed)
        say(f"search {number}/{len(runs)}: {name}")
        info = work.search(name, search_options(args, setting, seed, search_data, base,
                                                supernet, cache))
        return {"setting": setting, "seed": seed, "info": info,
                **trajectory(work.runs / "search" / name, checkpoints)}

    with ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(searched, n, s, seed) for n, (s, seed) in enumerate(runs, 1)]
        results = [job.result() for job in jobs]
    loads["end"] = uptime()
    summary = {}
    for setting in args.settings:
        mine = [r for r in results if r["setting"] == setting]
        summary[setting] = {
            "agent": SETTINGS[setting][0],
            "best": {n: mean_std([r["best_after"].get(n, 0.0) for r in mine])
                     for n in checkpoints},
            "moved": mean_std([r["late"] - r["early"] for r in mine]),
            "feasible": statistics.fmean(r["feasible_share"] for r in mine),
            "minutes": statistics.fmean(r["info"]["search_seconds"] for r in mine) / 60,
            "curves": [r["curve"] for r in mine]}
    from agent_scale_report import write_report

    write_report(args, {
        "recorded": dt.datetime.now().isoformat(timespec="seconds"),
        "command": shlex.join([".venv/bin/python", "benchmarks/agent_scale.py",
                               *sys.argv[1:]]),
        "commit": commit(), "machine": machine_line(), "loads": loads,
        "seconds": time.perf_counter() - began, "base_info": base_info,
        "supernet_info": supernet_info, "summary": summary, "checkpoints": checkpoints,
        "chosen": choices(summary, checkpoints[-1]), "settings": SETTINGS,
        "commands": work.commands})
    save_json(work.root / "summary.json",
              {s: {k: v for k, v in row.items() if k != "curves"} for s, row in
               summary.items()})


if __name__ == "__main__":
    main()
