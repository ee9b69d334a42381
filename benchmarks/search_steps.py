"""The pieces of the search-agents benchmark: each one `edgeprune` command, run as a user runs
it (a subprocess, output to a log), and reused from the work folder once it has finished.

A finished piece leaves `benchmark.json` in its run folder (its wall and CPU seconds and what
the report needs); a piece without it is redone: an interrupted search continues with
`edgeprune search --resume`, interrupted base and weight-sharing trainings with their
`--resume`, an interrupted fine-tuning or scratch training starts again.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EDGEPRUNE = [str(Path(sys.executable).parent / "edgeprune")]
DONE = "benchmark.json"


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity), in order."""
    return sorted(os.sched_getaffinity(0))


def pinned(cpus: list[int]) -> list[str]:
    """The prefix that runs a command on `cpus` only (taskset; a preexec_fn is not safe
    with the threads that run pieces side by side). Empty without taskset: unpinned."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", ",".join(map(str, cpus))] if taskset else []


def load_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def save_json(path: Path, data) -> None:
    from edgeprune.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2))


class Work:
    """The work folder: generated data, base, weight-sharing network, runs, logs.

    Pieces may run from several threads at once (`jobs`): each takes one CPU of `cpus` for
    its process (pinned, torch on one thread), so two searches never share a core and every
    piece is timed on the same kind of slot; a `wide` piece (one that runs alone) takes all
    of them, with torch on as many threads."""

    def __init__(self, root: Path, cpus: list[int] | None = None) -> None:
        self.root = root
        self.runs = root / "runs"
        self.commands: list[str] = []  # every edgeprune command the results come from
        self.cpus = cpus or usable_cpus()[:1]
        self._free: queue.Queue[int] = queue.Queue()
        for cpu in self.cpus:
            self._free.put(cpu)

    def shown(self, command: list[str]) -> str:
        text = "edgeprune " + shlex.join(command[len(EDGEPRUNE):])
        return text.replace(str(self.root), "$WORK")

    def run(self, command: list[str], log: str, wide: bool = False,
            may_fail: bool = False, env: dict[str, str] | None = None) -> dict:
        """Run `command` (output to logs/`log`) on a free CPU (all of them when `wide`); its
        wall and CPU seconds (its own rusage, data-loading workers included, so pieces running
        at the same time do not count each other's) and exit status. Stops the benchmark when
        it fails, unless `may_fail` (a check whose failure is its answer). `env`: variables
        added to the command's environment."""
        path = self.root / "logs" / log
        path.parent.mkdir(parents=True, exist_ok=True)
        held = [self._free.get() for _ in (self.cpus if wide else [0])]
        # torch sizes its thread pool from OMP_NUM_THREADS; more threads than pinned cores
        # would contend
        env = {**os.environ, **(env or {}), "OMP_NUM_THREADS": str(len(held))}
        try:
            began = time.perf_counter()
            with path.open("w") as out:
                process = subprocess.Popen(
                    [*pinned(held), *command], stdout=out, stderr=subprocess.STDOUT,
                    cwd=self.root, env=env)
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - began
        finally:
            for cpu in held:
                self._free.put(cpu)
        if process.returncode != 0 and not may_fail:
            sys.exit(f"failed ({process.returncode}): {self.shown(command)}\n"
                     f"{path.read_text()[-3000:]}")
        return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "cpus": held, "exit": process.returncode}

    def _once(self, folder: Path, command: list[str], log: str, resume: list[str] | None,
              summary, wide: bool = False, may_fail: bool = False) -> dict:
        """`command` into `folder` unless finished there before; `resume` continues an
        interrupted run (None: start it again). `summary(timing)` is what gets recorded
        (with `may_fail`, it also judges a failed exit, see Work.run)."""
        self.commands.append(self.shown(command))
        done = load_json(folder / DONE)
        if done is not None:
            return done
        if resume is not None:
            self.commands.append(self.shown(resume))
            timing = self.run(resume, log, wide)
            timing["resumed"] = True
        else:
            if folder.exists():
                shutil.rmtree(folder)
            timing = self.run(command, log, wide, may_fail)
        result = {"wall_seconds": timing["seconds"], **summary(timing)}
        save_json(folder / DONE, result)
        return result

    # ------------------------------------------------------------------------------ pieces

    def data(self, images: int, val_images: int) -> tuple[Path, Path]:
        """The generated sim data, and the same data whose val split is the fixed subset
        every search scores on (the search draws its subset by its own seed otherwise)."""
        folder = self.root / "sim"
        data = folder / "data.yaml"
        command = [*EDGEPRUNE, "data", "synth", "--out", str(folder), "--domain", "sim",
                   "--images", str(images), "--seed", "0", "--force"]
        self.commands.append(self.shown(command))
        if load_json(folder / DONE) is None:
            timing = self.run(command, "synth.log", wide=True)
            save_json(folder / DONE, timing)
        search_data = folder / f"search-val{val_images}.yaml"
        if not search_data.is_file():
            from edgeprune.data import load_dataset
            from edgeprune.eval.evaluate import subset

            chosen = subset(load_dataset(data, "val"), val_images, seed=0)
            listing = folder / f"search-val{val_images}.txt"
            listing.write_text("".join(f"{s.image_path}\n" for s in chosen.samples))
            search_data.write_text(
                f"# the val split of data.yaml cut to a fixed {len(chosen.samples)}-image "
                f"subset (seed 0), so every search scores on the same images\n"
                f"path: .\ntrain: images/train\nval: {listing.name}\n"
                f"names: [{', '.join(chosen.names)}]\n")
        return data, search_data

    def base(self, data: Path, imgsz: int, width: float, epochs: int, val_images: int,
             plateau: int | None = None) -> tuple[Path, dict]:
        """yolov3 at `width` from scratch: `epochs` epochs, or with `plateau` until converged
        (`train --plateau`, `epochs` the most it may train)."""
        folder = self.root / "base"
        command = [*EDGEPRUNE, "train", "--data", str(data), "--model", "yolov3", "--width",
                   str(width), "--imgsz", str(imgsz), "--epochs", str(epochs), "--workers",
                   "1", "--val-images", str(val_images), "--seed", "0",
                   *(["--plateau", str(plateau)] if plateau else []), "--out", str(folder)]
        resume = ([*EDGEPRUNE, "train", "--out", str(folder), "--resume"]
                  if (folder / "last.pt").is_file() else None)

        def summary(timing: dict) -> dict:
            return {**timing, "train_seconds": training_seconds(folder),
                    "epochs": trained_epochs(folder)}

        return folder / "best.pt", self._once(folder, command, "train-base.log", resume,
                                              summary, wide=True)

    def converged(self, args, say) -> tuple[tuple[Path, Path], tuple[Path, dict],
                                             tuple[Path, dict]]:
        """The regime's pieces from `args` (bench_options.add_regime_options): (data, its
        fixed val subset), the base trained until converged, its weight-sharing network;
        each with what the report needs."""
        say("data")
        data = self.data(args.images, args.val_images)
        say("base model, trained until converged")
        base = self.base(data[0], args.imgsz, args.width, args.max_epochs, args.val_images,
                         plateau=args.plateau)
        say("weight-sharing network")
        return data, base, self.supernet(base[0], data[0], args.supernet_epochs)

    def supernet(self, base: Path, data: Path, epochs: float) -> tuple[Path, dict]:
        folder = self.runs / "supernet" / "base"
        command = [*EDGEPRUNE, "supernet", "train", "--weights", str(base), "--data",
                   str(data), "--epochs", f"{epochs:g}", "--workers", "1", "--seed", "0",
                   "--out", str(self.runs), "--name", "base"]
        resume = ([*EDGEPRUNE, "supernet", "train", "--resume", str(folder)]
                  if (folder / "last.pt").is_file() else None)

        def summary(timing: dict) -> dict:
            with (folder / "log.csv").open() as rows:
                seconds = float(list(csv.DictReader(rows))[-1]["seconds"])
            return {**timing, "train_seconds": seconds,
                    "probe": load_json(folder / "probe.json")}

        return folder / "supernet.pt", self._once(folder, command, "supernet.log", resume,
                                                  summary, wide=True)

    def search(self, name: str, options: list[str]) -> dict:
        """`edgeprune search OPTIONS --out WORK/runs --name NAME`, summarised from its log."""
        folder = self.runs / "search" / name
        command = [*EDGEPRUNE, "search", *options, "--out", str(self.runs), "--name", name]
        resume = ([*EDGEPRUNE, "search", "--resume", str(folder)]
                  if (folder / "config.yaml").is_file() else None)
        return self._once(folder, command, f"search-{name}.log", resume,
                          lambda timing: search_summary(folder, timing))

    def finetune(self, name: str, weights: Path, base: Path, data: Path, epochs: int | None,
                 val_images: int, options: list[str] | None = None) -> dict:
        """`edgeprune finetune --teacher base`: `epochs`, or (None) its default share of the
        base's epochs (`--base-share`); `options` more of its options (e.g. --corrupt)."""
        folder = self.runs / "finetune" / name
        command = [*EDGEPRUNE, "finetune", "--weights", str(weights), "--teacher", str(base),
                   "--data", str(data), *(["--epochs", str(epochs)] if epochs else []),
                   "--workers", "1", "--val-images", str(val_images), "--seed", "0",
                   *(options or []), "--out", str(self.runs), "--name", name]

        def summary(timing: dict) -> dict:
            return {**timing, "train_seconds": training_seconds(folder),
                    "epochs": trained_epochs(folder), "weights": str(folder / "best.pt")}

        return self._once(folder, command, f"finetune-{name}.log", None, summary)

    def scratch(self, name: str, data: Path, base: Path, epochs: int, choice: list[str],
                options: list[str], wide: bool = False) -> dict:
        """`edgeprune scratch CHOICE`: e.g. `--model yolov3 --match RUN` (the widest yolov3 no
        slower than a search's best), `--cfg BEST.pt` (a searched architecture from scratch),
        or `--model yolov3-tiny --width 1`."""
        folder = self.runs / "scratch" / name
        command = [*EDGEPRUNE, "scratch", "--data", str(data), "--weights", str(base),
                   *choice, "--epochs", str(epochs), "--workers", "1", "--device", "cpu",
                   "--ort-threads", "1", "--latency-cache",
                   str(self.root / "scratch-latency.sqlite"), "--seed", "0", *options,
                   "--out", str(self.runs), "--name", name]

        def summary(timing: dict) -> dict:
            return {**timing, **json.loads((folder / "scratch.json").read_text()),
                    "choice": choice}

        return self._once(folder, command, f"scratch-{name}.log", None, summary, wide=wide)

    def regime(self, name: str, base: Path, data: Path, tiny: Path, options: list[str]) -> dict:
        """`edgeprune regime`: the four checks of a base on ort-cpu, 1 thread (its
        regime.json; the exit status says pass or fail, both recorded)."""
        folder = self.runs / "regime" / name
        command = [*EDGEPRUNE, "regime", "--weights", str(base), "--data", str(data), "--tiny",
                   str(tiny), "--device", "cpu", "--ort-threads", "1", "--latency-cache",
                   str(self.root / "scratch-latency.sqlite"), *options, "--out", str(self.runs),
                   "--name", name]
        log = f"regime-{name}.log"

        def summary(timing: dict) -> dict:
            if not (folder / "regime.json").is_file():  # it broke rather than judged
                sys.exit(f"failed ({timing['exit']}): {self.shown(command)}\n"
                         f"{(self.root / 'logs' / log).read_text()[-3000:]}")
            return {**timing, **json.loads((folder / "regime.json").read_text())}

        return self._once(folder, command, log, None, summary, may_fail=True)

    def validate(self, name: str, weights: Path, data: Path) -> dict:
        """`edgeprune val` on the whole val split (results kept in WORK/val)."""
        path = self.root / "val" / f"{name}.json"
        command = [*EDGEPRUNE, "val", "--data", str(data), "--weights", str(weights),
                   "--json", "--name", name]
        self.commands.append(self.shown(command))
        done = load_json(path)
        if done is not None and done.get("weights") == str(weights):
            return done
        self.run(command, f"val-{name}.log")
        text = (self.root / "logs" / f"val-{name}.log").read_text()
        result = {**json.loads(text[text.index("{"):]), "weights": str(weights)}
        save_json(path, result)
        return result


def training_seconds(folder: Path) -> float:
    """Training and validation time over all sessions of a run (its results.csv)."""
    with (folder / "results.csv").open() as rows:
        return sum(float(r["train_seconds"]) + float(r.get("val_seconds") or 0)
                   for r in csv.DictReader(rows))


def trained_epochs(folder: Path) -> int:
    """Epochs a run trained over all its sessions (rows of its results.csv)."""
    with (folder / "results.csv").open() as rows:
        return sum(1 for _ in csv.DictReader(rows))


def search_summary(folder: Path, timing: dict) -> dict:
    """What the report needs from a finished search run folder."""
    from edgeprune.search.measured_base import load_measured_base
    from edgeprune.search.records import CandidateLog
    from edgeprune.search.results import best_record

    records = CandidateLog(folder).read()
    best = best_record(records)
    measured = load_measured_base(folder)
    last = max(r.session for r in records)
    earlier = sum(r.wall_seconds for r in records if r.session < last)
    return {**timing, "wall_seconds": timing["seconds"] + earlier,
            "search_seconds": timing["seconds"] + earlier,
            "candidates": len(records),
            "evaluated": sum(r.repeat_of is None for r in records),
            "measured": sum(r.measured_now for r in records),
            "noisy": sum(r.noise is not None for r in records),
            "accuracy_seconds": sum(r.accuracy_seconds for r in records),
            "latency_seconds": sum(r.latency_seconds for r in records),
            "best_step": best.step, "proxy_map50": best.accuracy,
            "search_latency_ms": best.latency_ms, "feasible": best.feasible,
            "target_ms": measured.target_ms, "base_ms": measured.latency_ms,
            "weights": str(folder / "best.pt")}
