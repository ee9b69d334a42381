"""candidates.jsonl: one line per evaluated candidate, appended and fsynced as it happens.

The log is the search's memory: a resumed search replays it into a fresh agent instead of
evaluating anything again. A process killed while writing can leave a torn last line (no
newline, or half a JSON object); reading ignores it and `CandidateLog.open_for_append` cuts it
off before the next line is written. A damaged line anywhere else is an error naming the line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.search.candidate import CANDIDATES, Candidate


class CandidateLog:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / CANDIDATES

    def read(self) -> list[Candidate]:
        """Every complete record, in order; a torn last line is ignored."""
        records, _ = self._scan()
        return records

    def _scan(self) -> tuple[list[Candidate], int]:
        """(records, byte length of the complete part of the file)."""
        if not self.path.is_file():
            return [], 0
        *complete, torn = self.path.read_bytes().split(b"\n")
        del torn  # text after the last newline: a write the process did not finish
        records: list[Candidate] = []
        good = 0
        for number, line in enumerate(complete, 1):
            where = f"{self.path}:{number}"
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise EdgepruneError(f"{where}: damaged record ({exc})") from None
            record = Candidate.from_json(data, where)
            if record.step != len(records):
                raise EdgepruneError(f"{where}: step {record.step} where step {len(records)} "
                                     f"was expected")
            records.append(record)
            good += len(line) + 1
        return records, good

    def open_for_append(self) -> None:
        """Cut a torn last line off, so the next record starts on a line of its own."""
        if not self.path.is_file():
            return
        _, good = self._scan()
        if good != self.path.stat().st_size:
            with self.path.open("r+b") as handle:
                handle.truncate(good)
                handle.flush()
                os.fsync(handle.fileno())

    def append(self, record: Candidate) -> None:
        line = json.dumps(record.to_json(), sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

