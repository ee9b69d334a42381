"""The run folder's memory: every finished (model, condition) score, kept across runs.

`run.json` holds the settings that make scores comparable (datasets and their image lists,
seed, thresholds, corruption levels); `results.partial.jsonl` holds one finished score a line.
Each finished score rewrites the file atomically (temp file + rename: it stays small, a few
hundred lines), so a killed run loses at most the evaluation in progress, and running again
with the same folder continues where it stopped. A folder measured with other settings is
refused rather than mixed.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError

SETTINGS_FILE = "run.json"
PARTIAL_FILE = "results.partial.jsonl"


class ResultStore:
    """Finished scores by (model id, condition key), persisted in `folder`."""

    def __init__(self, folder: str | Path, settings: dict) -> None:
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings))  # as it reads back from JSON
        self.records: dict[tuple[str, str], dict] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        settings_path = self.folder / SETTINGS_FILE
        if settings_path.is_file():
            self._check_settings(settings_path)
            self._load(self.folder / PARTIAL_FILE)
        else:
            atomic_write_text(settings_path, json.dumps({"settings": self.settings}, indent=2))

    def _check_settings(self, path: Path) -> None:
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))["settings"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EdgepruneError(f"{path}: not a sim2real run file ({exc}); use another "
                                 f"output folder") from None
        changed = [key for key in sorted(set(earlier) | set(self.settings))
                   if earlier.get(key) != self.settings.get(key)]
        if changed:
            shown = "; ".join(f"{key}: {_short(earlier.get(key))} then, "
                              f"{_short(self.settings.get(key))} now" for key in changed)
            raise EdgepruneError(f"{self.folder} holds a sim2real run with other settings "
                                 f"({shown}); its results cannot be mixed with these: use "
                                 f"another output folder or delete this one")

    def _load(self, path: Path) -> None:
        if not path.is_file():
            return
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = (record["model_id"], record["condition"])
            except (ValueError, KeyError, TypeError):
                raise EdgepruneError(f"{path}:{number}: not a sim2real result line; delete "
                                     f"the line (that evaluation is then run again)") from None
            self.records[key] = record

    def get(self, model_id: str, condition_key: str) -> dict | None:
        return self.records.get((model_id, condition_key))

    def add(self, record: dict) -> None:
        self.records[(record["model_id"], record["condition"])] = record
        lines = [json.dumps(r, separators=(",", ":")) for r in self.records.values()]
        atomic_write_text(self.folder / PARTIAL_FILE, "\n".join(lines) + "\n")


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
