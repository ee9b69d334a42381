"""Benchmark: does pruning pay in a regime like the user's? A converged base, latency that
follows compute, fine-tuning given time, against what a user trains without edgeprune
(issue 26, item 5).

Decided before running (sizes below; the goals in regime_report.py):

- regime: yolov3 width 0.5 at 160 px on generated sim data (600 images, 80% train), ONNX
  Runtime CPU, 1 thread (issue 26 measured a uniform keep-0.5 prune of this base 3.82x faster
  there: latency follows compute); the base trained until converged (`train --plateau 5`,
  gain 0.005, at most 50 epochs); yolov3-tiny (width 1) from scratch for the epochs the base
  trained; then `edgeprune regime` checks (a) converged, (b) keep-0.5 >= 2.5x faster,
  (c) base >= 5 points over yolov3-tiny, (d) yolov3-tiny against the targets. A regime that
  fails a check stops the benchmark before any search: change the regime (--width,
  --imgsz, --images, --max-epochs), never the goals; every regime tried keeps its own
  folder in --work and is listed in the result with its checks;
- searches: targets 2x and 4x; the search's default agent (abcp) with seeds 0 and 1, and
  `uniform` once; the weight-sharing proxy (`supernet train`, 2 epochs), budget 64, the
  default latency mode (the device's latency model, measuring where it decides), the same
  60-image val subset, 1 thread;
- every best fine-tuned by `edgeprune finetune --teacher base` with its default budget (30%
  of the base's epochs, distillation, seed 0);
- per target, from scratch for the base's + fine-tuning's epochs: yolov3 thinner and
  yolov3-tiny, each the widest no slower than the target's first search's best (`scratch
  --match`), and that best's architecture itself (`scratch --cfg`, Liu et al. 2019);
- every final model scored by `edgeprune val` on the whole sim val split (mAP@0.5 and
  mAP@0.5:0.95) and timed side by side with the base (ONNX Runtime, 1 thread, 40 rounds);
- the weight-sharing proxy's Kendall tau on this base: `benchmarks/proxy_fidelity.py --base
  --data --proxies pruningnet`, 20 candidates, each fine-tuned 2 epochs from the weight-sharing
  network's weights (`--start pruningnet`).

Stages, each resumable from --work (a finished piece is reused, an interrupted training or
search continues): `regime` (data, base, yolov3-tiny, the checks), `search` (weight-sharing
network, searches, fine-tunings, rivals, validation, side-by-side timing), `proxy`, `report`;
`all` runs them in order. A note in --work (NOTE.md) says what is done and what is left.

    .venv/bin/python benchmarks/regime.py --work /work/exp/regime      # -> results/regime.md
    .venv/bin/python benchmarks/regime.py --work /tmp/rq --quick       # toy sizes, minutes
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_options import add_regime_options, finish, say  # noqa: E402
from machine_info import commit, machine_line, uptime  # noqa: E402
from search_pipeline import (  # noqa: E402
    rival_rows,
    run_pieces,
    scores,
    search_config,
    search_row,
)
from search_rivals import scratch_rivals  # noqa: E402
from search_steps import Work, load_json, save_json, usable_cpus  # noqa: E402

DEFAULT_AGENT = "abcp"  # `edgeprune search`'s default agent
AGENTS = (DEFAULT_AGENT, "uniform")
FINETUNE_SHARE = 0.3  # `edgeprune finetune --base-share`'s default
STAGES = ("regime", "search", "proxy", "report")
QUICK = {"images": 48, "imgsz": 64, "width": 0.25, "max_epochs": 3, "plateau": 1,
         "supernet_epochs": 0.25, "budget": 4, "seeds": 1, "val_images": 8, "rounds": 5,
         "proxy_candidates": 4, "proxy_epochs": 1}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench" / "regime")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "regime.md", help="result file (the Pareto PNG goes beside it)")
    parser.add_argument("--stage", choices=(*STAGES, "all"), default="all")
    # 600 images, not the 800 of issue 13's run: sized so that the whole benchmark fits the
    # issue's 3 hours here (estimated from 84 s a base epoch at 800 images, 160 px)
    add_regime_options(parser)
    parser.add_argument("--targets", type=float, nargs="+", default=[2.0, 4.0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds of the default agent")
    parser.add_argument("--budget", type=int, default=64, help="candidates per search")
    parser.add_argument("--val-images", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=40, help="side-by-side latency rounds")
    parser.add_argument("--proxy-candidates", type=int, default=20)
    parser.add_argument("--proxy-epochs", type=int, default=2,
                        help="fine-tuning epochs of the proxy benchmark's ground truth")
    return finish(parser, QUICK)


def regime_label(args) -> str:
    """The regime's folder name: everything a regime change may change."""
    return (f"w{args.width:g}-{args.imgsz}px-{args.images}img-p{args.plateau}"
            f"-max{args.max_epochs}")


# ------------------------------------------------------------------------------ stages


def regime_stage(args, work: Work) -> dict:
    """Data, the converged base, yolov3-tiny for the same epochs, and the four checks."""
    say("data")
    data, _ = work.data(args.images, args.val_images)
    say("base model, trained until converged")
    base, base_info = work.base(data, args.imgsz, args.width, args.max_epochs,
                                args.val_images, plateau=args.plateau)
    say(f"yolov3-tiny from scratch for the base's {base_info['epochs']} epochs")
    tiny = work.scratch("regime-yolov3-tiny", data, base, base_info["epochs"],
                        ["--model", "yolov3-tiny", "--width", "1"], [], wide=True)
    say("the regime checks")
    checks = work.regime("check", base, data, Path(tiny["weights"]), [])
    for check in checks["checks"]:
        say(f"  {check['name']}: {'pass' if check['passed'] else 'FAIL'}: {check['measured']}")
    return {"label": regime_label(args), "base_info": base_info, "tiny": tiny,
            "checks": checks, "passed": checks["passed"]}


def planned_searches(args) -> list[dict]:
    searches = []
    for target in args.targets:
        for agent in AGENTS:
            for seed in [0] if agent == "uniform" else range(args.seeds):
                suffix = "" if agent == "uniform" else f"-s{seed}"
                searches.append({"name": f"{target:g}x-{agent}{suffix}", "target": target,
                                 "agent": agent, "seed": seed})
    return searches


def search_stage(args, work: Work, regime: dict) -> dict:
    began = time.perf_counter()
    loads = {"start": uptime()}
    data, search_data = work.data(args.images, args.val_images)
    base = work.root / "base" / "best.pt"
    say("weight-sharing network")
    supernet, supernet_info = work.supernet(base, data, args.supernet_epochs)
    searches = planned_searches(args)

    def options(search: dict) -> list[str]:
        return ["--data", str(search_data), "--weights", str(base), "--supernet",
                str(supernet), "--device", "cpu", "--ort-threads", "1", "--target-speedup",
                f"{search['target']:g}", "--agent", search["agent"], "--budget",
                str(args.budget), "--val-images", str(args.val_images), "--imgsz",
                str(args.imgsz), "--seed", str(search["seed"])]

    # the fine-tuning epochs the scratch rivals add to the base's: finetune's default share
    from edgeprune.train.finetune import share_of_base

    finetune_epochs, _ = share_of_base(base, FINETUNE_SHARE)
    epochs = regime["base_info"]["epochs"] + finetune_epochs
    # the rivals match each target's first search (the default agent, seed 0)
    first = {t: next(s["name"] for s in searches if s["target"] == t) for t in args.targets}
    rivals = scratch_rivals(work, first, epochs)
    finals = run_pieces(work, args.jobs, searches, options, base, data, None,
                        args.val_images, rivals, [], args.imgsz, args.rounds, say, loads)
    loads["end"] = uptime()
    latency = finals["latency"]
    base_ms = latency["base"]["median_ms"]
    return {"runs": [search_row(s, latency[s["name"]], base_ms) for s in searches],
            "scratch": rival_rows(finals["scratch"], latency, base_ms),
            "base": {"ms": base_ms, **scores(finals["base_score"]),
                     "images": finals["base_score"]["images"]},
            "base_info": regime["base_info"], "supernet_info": supernet_info,
            "data_timing": load_json(data.parent / "benchmark.json") or {},
            "search_configs": {s["name"]: search_config(work, s["name"]) for s in searches},
            "finetune_epochs": finetune_epochs, "scratch_epochs": epochs, "loads": loads,
            "final_seconds": finals["final_seconds"], "commands": work.commands,
            "seconds": time.perf_counter() - began}


def proxy_stage(args, work: Work) -> dict:
    """The weight-sharing proxy's rank agreement on this base (proxy_fidelity.py)."""
    folder = work.root / "proxy"
    out = folder / "proxy_fidelity.md"
    summary = folder / "work" / "summary-from-pruningnet.json"
    data, _ = work.data(args.images, args.val_images)
    command = [sys.executable, str(ROOT / "benchmarks" / "proxy_fidelity.py"), "--work",
               str(folder / "work"), "--base", str(work.root / "base" / "best.pt"), "--data",
               str(data), "--proxies", "pruningnet", "--start", "pruningnet", "--candidates",
               str(args.proxy_candidates), "--finetune-epochs", str(args.proxy_epochs),
               "--supernet-epochs", f"{args.supernet_epochs:g}", "--val-images",
               str(args.val_images), "--threads", "1", "--out", str(out)]
    if not summary.is_file():
        say("proxy fidelity on this base")
        shared = work.runs / "supernet" / "base" / "supernet.pt"
        mine = folder / "work" / "supernet-pruningnet" / "supernet.pt"
        if shared.is_file() and not mine.is_file():
            # the very weight-sharing network the searches scored with (stage `search`)
            mine.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared, mine)
        folder.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        with (folder / "proxy.log").open("a") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
        save_json(folder / "timing.json", {"seconds": time.perf_counter() - began})
    stats = json.loads(summary.read_text())["stats"]
    return {"tau": stats["rows"]["pruningnet"]["tau"],
            "band_tau": stats["rows"]["pruningnet"]["band_tau"],
            "candidates": args.proxy_candidates, "epochs": args.proxy_epochs,
            "seconds": (load_json(folder / "timing.json") or {}).get("seconds", 0.0),
            "report": str(out), "command": shlex.join(command).replace(str(args.work),
                                                                       "$WORK")}


# ------------------------------------------------------------------------------ main


def write_note(args, state: dict) -> None:
    """NOTE.md in --work: which stages are done, and what is left."""
    lines = [f"# regime benchmark: {regime_label(args)}", ""]
    for stage in STAGES:
        lines.append(f"- {stage}: {'done' if stage in state else 'left'}")
    if "regime" in state and not state["regime"]["passed"]:
        lines.append("- the regime FAILS a check: change it (options), never the goals")
    (args.work / "NOTE.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    args = parse_args()
    work = Work(args.work / regime_label(args), usable_cpus()[:args.jobs])
    work.root.mkdir(parents=True, exist_ok=True)
    state_path = work.root / "state.json"
    state = load_json(state_path) or {}
    stages = STAGES if args.stage == "all" else (args.stage,)
    for stage in stages:
        if stage == "regime" and "regime" not in state:
            state["regime"] = regime_stage(args, work)
        elif stage == "search" and "search" not in state:
            # a toy run's checks fail by design (a base trained 3 epochs): it goes on to check
            # the stages, its numbers meaning nothing
            if not state.get("regime", {}).get("passed") and not args.quick:
                write_note(args, state)
                sys.exit("the regime has not passed its checks (stage `regime`): no search "
                         "is run in a regime where pruning cannot pay; change the regime")
            state["search"] = search_stage(args, work, state["regime"])
        elif stage == "proxy" and "proxy" not in state:
            state["proxy"] = proxy_stage(args, work)
        elif stage == "report":
            from regime_report import write_report

            write_report(args, work, state, {
                "recorded": dt.datetime.now().isoformat(timespec="seconds"),
                "command": shlex.join([".venv/bin/python", "benchmarks/regime.py",
                                       *sys.argv[1:]]),
                "commit": commit(), "machine": machine_line()}, regime_label(args),
                DEFAULT_AGENT)
        save_json(state_path, state)
        write_note(args, state)


if __name__ == "__main__":
    main()
