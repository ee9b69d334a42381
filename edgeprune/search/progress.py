"""The search's terminal output: a progress bar and one line per recorded candidate."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from edgeprune.console import escape
from edgeprune.search.candidate import Candidate
from edgeprune.search.results import best_record
from edgeprune.search.settings import SearchSettings


class SearchProgress:
    """The progress bar (step, best reward, best latency, candidates measured) and one line
    per candidate, printed above the bar (or alone when the output is not a terminal).

    Steps are numbered from 0, as in candidates.jsonl, best.yaml and the report; the count
    beside them (`4/12`) is how many candidates are recorded of the budget."""

    def __init__(self, console: Console, settings: SearchSettings, run_dir: Path,
                 show: bool, done: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.budget = settings.budget
        self.show = show
        self.measured = 0
        self.progress = Progress(
            TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=True,
            disable=not (show and console.is_terminal))
        self.task = self.progress.add_task("search", total=settings.budget, completed=done,
                                           best="")
        if done and show:
            console.print(f"resuming {escape(run_dir)}: {done} candidate(s) recorded, "
                          f"replayed into a fresh {settings.agent} agent", highlight=False)

    def __enter__(self) -> SearchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def update(self, records: list[Candidate]) -> None:
        record = records[-1]
        self.measured += record.measured and not record.from_cache
        best = best_record(records)
        improved = best is record and record.repeat_of is None
        fields = (f"best reward {best.reward:.4f} at {best.latency_ms:.2f} ms, "
                  f"{self.measured} measured" if best else f"{self.measured} measured")
        self.progress.update(self.task, completed=len(records), best=fields)
        if not self.show:
            return
        if record.latency_predicted:
            low, high = record.prediction["low_ms"], record.prediction["high_ms"]
            source = f"predicted, {low:.3f}-{high:.3f}"
        elif record.repeat_of is not None:
            source = f"repeat of step {record.repeat_of}"
        else:
            source = "cached" if record.from_cache else "measured"
            if record.measure_reason:
                source += f": {record.measure_reason}"
        if record.noise:
            source += f", [yellow]noisy: {record.noise}[/]"
        mark = "[green]meets target[/]" if record.feasible else "[yellow]over target[/]"
        self.console.print(
            f"step {record.step} ({len(records)}/{self.budget})  "
            f"{record.latency_ms:8.3f} ms ({source})  mAP@0.5 {record.accuracy:.4f}  "
            f"reward {record.reward:+.4f}  {mark}" + ("  [bold green]best[/]" if improved
                                                      else ""), highlight=False)
