"""The demo's trainings after the search, side by side.

Fine-tuning and the two models trained from scratch do not depend on each other, so each
runs in its own process with an even share of the cores, its output in a log file beside its
run folder, while this process draws one progress bar per training from the results.csv each
one grows an epoch at a time. The convolutions of a small network at 128-160 px keep a second
torch thread only partly busy; on this 2-core CPU, three trainings one after another (both
threads each) took 1.05x the wall time of the three side by side
(benchmarks/results/parallel_training.md): a small gain here; machines with more cores were
not measured.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgeprune.console import escape

MOST_SLOTS = 3  # the demo has three trainings after the search


@dataclass(frozen=True)
class TrainingJob:
    """One training: `call(*args, console=..., **kwargs)`, a module-level function (a child
    process imports it by name), growing `run_dir`/results.csv for `epochs` epochs."""

    name: str
    description: str  # what it trains, printed before it starts
    call: Callable
    run_dir: Path
    epochs: int
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.run_dir.with_name(self.run_dir.name + ".log")


def default_slots() -> int:
    """Trainings at once: all three of the demo's, on any machine with more than one core.
    On two cores the three share them (one torch thread each): fine-tuning is the shortest,
    and once it ends the two scratch models have a core each, where two at a time would
    leave one scratch model alone on one thread with the other core idle at the end."""
    return 1 if (os.cpu_count() or 1) <= 1 else MOST_SLOTS


def run_side_by_side(jobs: list[TrainingJob], slots: int, console: Console) -> dict[str, object]:
    """Every job's result by name. With one slot, the jobs run in turn in this process (their
    output on `console`); with more, in that many child processes, each with
    cores // slots torch threads (at least one)."""
    if slots <= 1 or len(jobs) <= 1:
        results = {}
        for job in jobs:
            console.print(escape(job.description), highlight=False)
            results[job.name] = job.call(*job.args, console=console, **job.kwargs)
        return results
    slots = min(slots, len(jobs))
    threads = max(1, (os.cpu_count() or 1) // slots)
    console.print(f"{len(jobs)} trainings side by side, {slots} at a time with {threads} "
                  f"torch thread{'s' if threads > 1 else ''} each:", highlight=False)
    for job in jobs:
        console.print(f"  {escape(job.description)} (output: {escape(str(job.log))})",
                      highlight=False)
    # spawn, not fork: a forked child of a process that has run torch's thread pool can hang
    context = multiprocessing.get_context("spawn")
    results: dict[str, object] = {}
    with ProcessPoolExecutor(max_workers=slots, mp_context=context,
                             initializer=_limit_threads, initargs=(threads,)) as pool, \
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                     TextColumn("epochs{task.fields[best]}"), TimeElapsedColumn(),
                     console=console, transient=False) as bars:
        futures: dict[Future, TrainingJob] = {}
        tasks = {}
        for job in jobs:
            job.log.parent.mkdir(parents=True, exist_ok=True)
            futures[pool.submit(_run_logged, job.call, job.args, job.kwargs, job.log)] = job
            tasks[job.name] = bars.add_task(job.name, total=job.epochs, best="")
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
                for future in done:
                    job = futures[future]
                    results[job.name] = future.result()  # a failed training stops the demo
                for job in jobs:
                    epochs, best = _epochs_done(job.run_dir)
                    bars.update(tasks[job.name], completed=epochs if job.name not in results
                                else job.epochs, best=f" best mAP@0.5 {best:.3f}"
                                if best is not None else "")
        except BaseException:  # a failed training, Ctrl-C: end the others now
            _stop(pool)
            raise
    return {job.name: results[job.name] for job in jobs}  # in the jobs' order


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the trainings still running: leaving the pool's block would wait for them, minutes
    after one has failed. Python 3.11 has no public way to stop a pool's processes (3.14
    adds terminate_workers), hence its process table."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_logged(call: Callable, args: tuple, kwargs: dict, log: Path) -> object:
    """In a child process: the training, its console output in `log`."""
    with log.open("a", encoding="utf-8") as stream:
        console = Console(file=stream, width=120, force_terminal=False, soft_wrap=True)
        began = time.strftime("%H:%M:%S")
        console.print(f"[{began}] started in process {os.getpid()}", highlight=False)
        return call(*args, console=console, **kwargs)


def _epochs_done(run_dir: Path) -> tuple[int, float | None]:
    """(epochs in results.csv so far, the best val mAP@0.5 among them). The trainer replaces
    the file whole each epoch (train/run_files.py), so a reader never sees half a row."""
    from edgeprune.train.run_files import read_results

    # fine-tuning's epoch 0 scores the model as given
    history = [stats for stats in read_results(run_dir) if stats.epoch >= 1]
    scores = [stats.map50 for stats in history if stats.map50 is not None]
    return max((stats.epoch for stats in history), default=0), max(scores, default=None)
