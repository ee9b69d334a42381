"""Benchmark: a search for robustness against a clean one (issue 28, item 4): does putting a
corrupted and a real-domain score in the reward, and corruptions in fine-tuning, give a pruned
network that holds up better on corruptions it never saw and on the real domain?

Decided before running:

- the regime of issue 26: `--base-from` a regime benchmark's folder (benchmarks/regime.py):
  its sim data, converged yolov3 base (w0.5, 160 px) and weight-sharing network, as they are;
- the real domain (`edgeprune data synth --domain real`): what the user has, a small labelled
  set (200 images, seed 1; its 40-image val split is what the robust reward scores,
  `--robust-real`), and a separate evaluation set (300 images, seed 2; its 60-image val split
  is the real-domain column), so no image the reward saw is scored at the end;
- the suite's corruptions split in advance: the reward and robust fine-tuning may use
  REWARD_CORRUPTIONS; HELD_OUT are never seen by a search or a fine-tuning;
- the search's default agent at 2x, seeds 0, 1, 2, budget 64, the weight-sharing proxy, the
  same 60-image val subset, the latency model and the benchmarks' search protocol
  (bench_options.SEARCH_PROTOCOL), ONNX Runtime 1 thread: `clean` (the default
  reward) and `robust` (`--robust-corruptions REWARD --robust-real USER --robust-weight 0.5`);
- fine-tuning (`finetune --teacher base`, its default share of the base's epochs): the clean
  search's best as it is; the robust search's best with `--corrupt REWARD` (robust fine-tuning,
  distilled from the base on the clean image);
- evaluation: `edgeprune eval sim2real` of the base and every fine-tuned network: clean sim
  val, the evaluation set's real val, every corruption at severities 1, 3 and 5 (seed 0);
  latency: every model timed side by side (ONNX Runtime, 1 thread, 40 rounds);
- goals (issue 28): at equal measured latency (within 3%), robust >= +4 points mAP@0.5 on the
  held-out corruptions (their mean over severities) and >= +3 on the real domain over clean,
  losing <= 1 point clean, mean of 3 seeds, gaps above the seeds' std; its retention on the
  held-out corruptions (their mean / clean sim) higher than the base's.

Resumable: finished pieces are reused from --work (search_steps.Work); NOTE.md says what is
done and what is left.

    .venv/bin/python benchmarks/robust_search.py --work /work/exp/robust \\
        --base-from /work/exp/regime/w0.5-160px-600img-p5-max50    # -> results/robust_search.md
    .venv/bin/python benchmarks/robust_search.py --work /tmp/rs --quick       # toy sizes
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_options import add_regime_options, finish, protocol_options, say  # noqa: E402
from machine_info import commit, machine_line, uptime  # noqa: E402
from search_rivals import link_regime  # noqa: E402
from search_steps import EDGEPRUNE, Work, load_json, save_json, usable_cpus  # noqa: E402

DEFAULT_AGENT = "abcp"
REWARD_CORRUPTIONS = ("gaussian_noise", "motion_blur", "brightness_down", "contrast", "jpeg")
HELD_OUT = ("shot_noise", "defocus_blur", "brightness_up", "white_balance", "low_light",
            "vignetting")
KINDS = ("clean", "robust")
QUICK = {"images": 48, "imgsz": 64, "width": 0.25, "max_epochs": 2, "plateau": 1,
         "supernet_epochs": 0.25, "budget": 3, "seeds": 1, "val_images": 8,
         "user_images": 20, "eval_images": 20, "severities": "3", "rounds": 5}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench" / "robust_search")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "robust_search.md")
    parser.add_argument("--base-from", type=Path, metavar="REGIME_FOLDER",
                        help="a regime benchmark's folder: its data, base and weight-sharing "
                        "network (else trained here with the same sizes)")
    add_regime_options(parser)
    parser.add_argument("--target", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=64)
    parser.add_argument("--val-images", type=int, default=60)
    parser.add_argument("--user-images", type=int, default=200,
                        help="the real images the user has (80%% train, 20%% val: the reward's)")
    parser.add_argument("--eval-images", type=int, default=300,
                        help="the real evaluation set (its val split is scored)")
    parser.add_argument("--robust-weight", type=float, default=0.5)
    parser.add_argument("--severities", default="1,3,5", help="evaluation severities")
    parser.add_argument("--rounds", type=int, default=40)
    return finish(parser, QUICK)


def real_data(work: Work, name: str, images: int, seed: int) -> Path:
    """A generated real-domain dataset in WORK/NAME (made once)."""
    folder = work.root / name
    command = [*EDGEPRUNE, "data", "synth", "--out", str(folder), "--domain", "real",
               "--images", str(images), "--seed", str(seed), "--force"]
    work.commands.append(work.shown(command))
    if load_json(folder / "benchmark.json") is None:
        save_json(folder / "benchmark.json", work.run(command, f"synth-{name}.log", wide=True))
    return folder / "data.yaml"


def planned(args) -> list[dict]:
    return [{"name": f"{args.target:g}x-{kind}-s{seed}", "kind": kind, "seed": seed}
            for seed in range(args.seeds) for kind in KINDS]


def search_options(args, run: dict, search_data: Path, base: Path, supernet: Path,
                   user: Path) -> list[str]:
    options = ["--data", str(search_data), "--weights", str(base), "--supernet",
               str(supernet), "--device", "cpu", "--ort-threads", "1", "--target-speedup",
               f"{args.target:g}", "--agent", DEFAULT_AGENT, "--budget", str(args.budget),
               "--val-images", str(args.val_images), "--imgsz", str(args.imgsz), "--seed",
               str(run["seed"]), *protocol_options(args)]
    if run["kind"] == "robust":
        options += ["--robust-corruptions", ",".join(REWARD_CORRUPTIONS), "--robust-real",
                    str(user), "--robust-weight", f"{args.robust_weight:g}"]
    return options


def evaluate(work: Work, models: dict[str, Path], sim: Path, real: Path,
             severities: str) -> dict:
    """`edgeprune eval sim2real` of `models` (label -> weights); its results.json."""
    folder = work.root / "sim2real"
    command = [*EDGEPRUNE, "eval", "sim2real",
               *[x for path in models.values() for x in ("--weights", str(path))],
               "--sim", str(sim), "--real", str(real), "--corruptions",
               ",".join([*HELD_OUT, *REWARD_CORRUPTIONS]), "--severities", severities,
               "--seed", "0", "--torch-device", "cpu", "--out", str(folder)]
    work.commands.append(work.shown(command))
    if not (folder / "results.json").is_file():
        work.run(command, "sim2real.log", wide=True)
    return json.loads((folder / "results.json").read_text())


def scores(result: dict, weights: Path) -> dict:
    """One model's columns from sim2real's results.json (found by its weights file)."""
    import statistics

    model = next(m for m in result["models"] if Path(m["weights"]).resolve() == weights.resolve())
    summary = model["summary"]["map50"]

    def mean_over(names) -> float:
        return statistics.fmean(model["corruptions"][n]["mean_map50"] for n in names)

    held = mean_over(HELD_OUT)
    return {"clean": summary["sim"], "real": summary["real"], "held_out": held,
            "seen": mean_over(REWARD_CORRUPTIONS),
            "retention": held / summary["sim"] if summary["sim"] else 0.0}


def write_note(args, work: Work, runs: list[dict]) -> None:
    def count(kind: str) -> str:
        return (f"{sum((work.runs / kind / r['name'] / 'benchmark.json').is_file() for r in runs)}"
                f"/{len(runs)}")

    lines = ["# robust search benchmark", "", f"- searches: {count('search')} done",
             f"- fine-tunings: {count('finetune')} done",
             f"- sim2real evaluation: "
             f"{'done' if (work.root / 'sim2real' / 'results.json').is_file() else 'left'}",
             f"- report: {'written' if args.out.is_file() else 'left'} ({args.out})"]
    (work.root / "NOTE.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    loads = {"start": uptime()}
    work = Work(args.work, usable_cpus()[:args.jobs])
    work.root.mkdir(parents=True, exist_ok=True)
    runs = planned(args)
    write_note(args, work, runs)
    if args.base_from:
        from regime import regime_label

        link_regime(args.base_from, work, regime_label(args))
    say("real-domain data: the user's images, the evaluation set")
    user = real_data(work, "real-user", args.user_images, 1)
    real = real_data(work, "real-eval", args.eval_images, 2)
    (data, search_data), (base, base_info), (supernet, _) = work.converged(args, say)

    def piece(number: int, run: dict) -> None:
        say(f"search {number}/{len(runs)}: {run['name']}")
        run["search_info"] = work.search(run["name"], search_options(
            args, run, search_data, base, supernet, user))
        say(f"fine-tuning {run['name']}")
        extra = (["--corrupt", ",".join(REWARD_CORRUPTIONS)] if run["kind"] == "robust"
                 else [])
        run["finetune_info"] = work.finetune(run["name"], Path(run["search_info"]["weights"]),
                                             base, data, None, args.val_images, extra)

    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            for job in [pool.submit(piece, n, r) for n, r in enumerate(runs, 1)]:
                job.result()
        loads["after the training"] = uptime()
        models = {"base": base, **{r["name"]: Path(r["finetune_info"]["weights"])
                                   for r in runs}}
        say("sim2real evaluation of every model")
        result = evaluate(work, models, data, real, args.severities)
    finally:
        write_note(args, work, runs)
    say("timing every model side by side")
    from side_by_side import side_by_side

    latency = side_by_side(models, args.imgsz, args.rounds)
    loads["end"] = uptime()
    rows = {name: {**scores(result, path), "ms": latency[name]["median_ms"]}
            for name, path in models.items()}
    from robust_report import write_report

    write_report(args, {
        "recorded": dt.datetime.now().isoformat(timespec="seconds"),
        "command": shlex.join([".venv/bin/python", "benchmarks/robust_search.py",
                               *sys.argv[1:]]),
        "commit": commit(), "machine": machine_line(), "loads": loads,
        "seconds": time.perf_counter() - began, "base_info": base_info, "runs": runs,
        "rows": rows, "commands": work.commands,
        "reward_corruptions": REWARD_CORRUPTIONS, "held_out": HELD_OUT})
    write_note(args, work, runs)


if __name__ == "__main__":
    main()
