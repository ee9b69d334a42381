"""The middle every search benchmark shares: searches, then fine-tunings and scratch rivals,
then every final model validated on the whole val split and timed side by side with the base.

The pieces run `jobs` at a time (search_steps.Work pins each to its own CPU); a failed piece
stops the benchmark and starts nothing more, and pieces already finished are reused by the
next invocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from machine_info import uptime
from search_goals import LATENCY_TOLERANCE, RL_AGENTS, SEARCH_BASELINES
from search_steps import Work
from side_by_side import side_by_side


@dataclass
class Rival:
    """A model trained from scratch to compare at one target: `choice` is what `edgeprune
    scratch` is told (e.g. `--model yolov3 --match RUN`, or `--cfg BEST.pt`)."""
    name: str  # its run name, e.g. "2x-yolov3"
    label: str  # what a table calls it before its width is known, e.g. "yolov3"
    model: str  # yolov3, yolov3-tiny, or "searched" (an architecture a search found)
    target: float
    matched: str  # the search whose best it matches, or whose architecture it is
    epochs: int
    choice: list[str]


def wait_all(jobs) -> None:
    """Wait for every job; the first failure is raised (a failed piece exits the benchmark
    with its log's tail, see Work.run)."""
    for job in list(jobs):
        job.result()


def run_pieces(work: Work, jobs: int, searches: list[dict],
               options_of: Callable[[dict], list[str]], base: Path, data: Path,
               finetune_epochs: int | None, val_images: int,
               rivals: list[Rival] | Callable[[], list[Rival]],
               rival_options: list[str], imgsz: int, rounds: int,
               say: Callable[[str], None], loads: dict[str, str],
               others: Callable[[], list[Callable[[], dict]]] | None = None) -> dict:
    """Run every search (`options_of(search)` its options), fine-tune each best, train the
    rivals, validate everything and time it side by side. `rivals` may be a function called
    once the searches are done (rivals that depend on what they found); `others()` gives
    trainings from outside edgeprune (each returns a rival's row, or a list of them: name,
    model, target, weights, train_seconds, run, matched_name, info), run beside the scratch
    models. Fills
    each search dict with search_info, finetune_info and val; the machine's load after each
    phase goes into `loads`; returns {"scratch", "base_score", "latency",
    "final_seconds"}."""
    pool = ThreadPoolExecutor(jobs)
    try:
        def searched(number: int, search: dict) -> None:
            say(f"search {number}/{len(searches)}: {search['name']}")
            search["search_info"] = work.search(search["name"], options_of(search))
            say(f"search {search['name']} done")

        wait_all(pool.submit(searched, n, s) for n, s in enumerate(searches, 1))
        loads["after the searches"] = uptime()

        def tuned(number: int, search: dict) -> None:
            say(f"fine-tuning {number}/{len(searches)}: {search['name']}")
            search["finetune_info"] = work.finetune(
                search["name"], Path(search["search_info"]["weights"]), base, data,
                finetune_epochs, val_images)

        def trained(rival: Rival) -> dict:
            say(f"{rival.target:g}x scratch {rival.label} ({rival.matched})")
            info = work.scratch(rival.name, data, base, rival.epochs, rival.choice,
                                rival_options)
            width = f" width {info['width']:g}" if rival.model != "searched" else ""
            return {"name": f"{rival.label}{width}", "model": rival.model,
                    "target": rival.target, "info": info, "weights": info["weights"],
                    "matched_name": rival.matched, "train_seconds": info["seconds"],
                    "run": rival.name}

        # the scratch trainings are the longest pieces: first, so they do not end last alone
        chosen = rivals() if callable(rivals) else rivals
        scratch_jobs = [pool.submit(trained, rival) for rival in chosen]
        scratch_jobs += [pool.submit(job) for job in (others() if others else [])]
        wait_all(pool.submit(tuned, n, s) for n, s in enumerate(searches, 1))
        scratch = []
        for job in scratch_jobs:  # an outside training may serve several targets: rows
            result = job.result()
            scratch += result if isinstance(result, list) else [result]
        loads["after the training"] = uptime()
        final_began = time.perf_counter()
        say("validating every final model on the whole val split")
        finals = [("base", base, None),
                  *[(s["name"], Path(s["finetune_info"]["weights"]), s) for s in searches],
                  *[(f"scratch-{m['run']}", Path(m["weights"]), m) for m in scratch]]
        scores_of = [pool.submit(work.validate, name, weights, data)
                     for name, weights, _ in finals]
        wait_all(scores_of)
        for (_, _, owner), job in zip(finals, scores_of, strict=True):
            if owner is not None:
                owner["val"] = job.result()
    except BaseException:
        # a failed piece (or Ctrl-C): start nothing more; pieces already running finish and
        # are reused by the next invocation
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    say("timing every final model side by side with the base")
    latency = side_by_side({name: weights for name, weights, _ in finals}, imgsz, rounds)
    return {"scratch": scratch, "base_score": scores_of[0].result(), "latency": latency,
            "final_seconds": time.perf_counter() - final_began}


def scores(val: dict) -> dict:
    return {"map50": val["map50"], "map50_95": val["map50_95"]}


def timed(entry: dict, target: float, base_ms: float) -> dict:
    """The side-by-side latency of a model and whether it meets `target` on that clock."""
    target_ms = base_ms / target
    return {"ms": entry["median_ms"], "speedup": base_ms / entry["median_ms"],
            "gflops": entry["gflops"], "target_ms": target_ms,
            "meets": entry["median_ms"] <= target_ms * (1 + LATENCY_TOLERANCE)}


def search_row(search: dict, entry: dict, base_ms: float) -> dict:
    """One search's line of a result: fine-tuned scores, side-by-side latency, search facts."""
    info, finetune = search["search_info"], search["finetune_info"]
    return {**search, **scores(search["val"]), **timed(entry, search["target"], base_ms),
            "proxy_map50": info["proxy_map50"], "search_seconds": info["search_seconds"],
            "candidates": info["candidates"], "measured": info["measured"],
            "noisy": info["noisy"], "best_step": info["best_step"],
            "search_latency_ms": info["search_latency_ms"],
            "search_target_ms": info["target_ms"],
            "finetune_seconds": finetune["train_seconds"],
            "finetune_epochs": finetune.get("epochs"),
            "kind": "RL" if search["agent"] in RL_AGENTS else "baseline",
            "baseline": search["agent"] in SEARCH_BASELINES}


def rival_rows(scratch: list[dict], latency: dict, base_ms: float) -> list[dict]:
    return [{**m, **scores(m["val"]), **timed(latency[f"scratch-{m['run']}"], m["target"],
                                              base_ms)} for m in scratch]


def search_config(work: Work, name: str) -> dict:
    import yaml

    return yaml.safe_load((work.runs / "search" / name / "config.yaml").read_text())
