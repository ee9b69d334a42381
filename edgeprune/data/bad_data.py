"""What a verb does with the problems found loading its data: stop, or skip them and name them.

`val`, `train`, `finetune` and `search` take `--bad-data stop|skip`. A problem here is one that
leaves an image, a label line or a box out of what is trained or scored (warnings, such as a box
clipped to its image, leave the data used as written and never stop a run). stop: an error
naming the first problems, how many there are and the option to skip them, raised before any
work (and so before anything is written into a run folder). skip: the run goes on without
them; a console line names the first few and data_problems.txt in the run folder lists every
problem, warnings included, one a line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from edgeprune.atomic import atomic_write_text
from edgeprune.console import escape
from edgeprune.data.dataset import DataError, DataProblem, DetectionDataset, first_named

BAD_DATA_CHOICES = ("stop", "skip")
PROBLEMS_FILE = "data_problems.txt"
SHOWN = 3  # problems named in an error or on the console; the file has them all


def check_bad_data_choice(bad_data: str) -> str:
    if bad_data not in BAD_DATA_CHOICES:
        raise DataError(f"bad_data {bad_data!r}: use one of {', '.join(BAD_DATA_CHOICES)}")
    return bad_data


def left_out(datasets: Sequence[DetectionDataset]) -> list[tuple[str, DataProblem]]:
    """(split, problem) of every problem that leaves data out, split by split."""
    return [(dataset.split, problem) for dataset in datasets for problem in dataset.problems
            if not problem.is_warning]


def refuse_bad_data(datasets: Sequence[DetectionDataset], bad_data: str) -> None:
    """With `bad_data` stop, a DataError naming the problems that would leave data out."""
    problems = left_out(datasets)
    if check_bad_data_choice(bad_data) == "skip" or not problems:
        return
    raise DataError(f"{datasets[0].source}: {_counted(problems)} would leave data out: "
                    f"{_first(problems)}; fix them (`edgeprune data check` lists every one) "
                    f"or pass --bad-data skip to go on without them")


def report_skipped(datasets: Sequence[DetectionDataset], run_dir: str | Path | None,
                   console: Console) -> Path | None:
    """Name the skipped problems on `console` and list every problem (warnings too) in the run
    folder's data_problems.txt; returns that file (None: nothing to list, or no folder)."""
    listed = write_problems(datasets, run_dir) if run_dir is not None else None
    where = f"; all listed in {escape(listed)}" if listed else ""
    skipped = skipped_summary(datasets)
    if skipped:
        console.print(f"[yellow]{escape(skipped)}[/]{where}", highlight=False)
    warnings = sum(p.is_warning for d in datasets for p in d.problems)
    if warnings:
        console.print(f"[dim]{warnings} warning{'s' if warnings > 1 else ''} (data used as "
                      f"written, e.g. boxes clipped to their image){where}[/]", highlight=False)
    return listed


def skipped_summary(datasets: Sequence[DetectionDataset]) -> str | None:
    """'skipped 2 problems in split 'val': the first ones' (None: nothing skipped)."""
    problems = left_out(datasets)
    return f"skipped {_counted(problems)}: {_first(problems)}" if problems else None


def write_problems(datasets: Sequence[DetectionDataset], run_dir: str | Path) -> Path | None:
    """Every problem (warnings too), one a line, in `run_dir`/data_problems.txt; returns the
    file (None: no problem, no file)."""
    everything = [(d.split, p) for d in datasets for p in d.problems]
    if not everything:
        return None
    listed = Path(run_dir) / PROBLEMS_FILE
    atomic_write_text(listed, "".join(f"{split}: {problem.kind}: {problem}\n"
                                      for split, problem in everything))
    return listed


def _counted(problems: list[tuple[str, DataProblem]]) -> str:
    """'2 problems in split 'val'' or '4 problems (train: 2, val: 2)'."""
    count = len(problems)
    noun = f"{count} problem{'s' if count > 1 else ''}"
    splits = Counter(split for split, _ in problems)
    if len(splits) == 1:
        return f"{noun} in split {next(iter(splits))!r}"
    return f"{noun} ({', '.join(f'{split}: {n}' for split, n in splits.items())})"


def _first(problems: list[tuple[str, DataProblem]]) -> str:
    several = len({split for split, _ in problems}) > 1
    return first_named([f"{split}: {problem}" if several else str(problem)
                        for split, problem in problems], SHOWN)
