"""Run folders: runs/<verb>/<name>, never overwriting an earlier run (name, name2, name3...)."""

from __future__ import annotations

from pathlib import Path


def new_run_dir(verb: str, name: str | None = None, root: str | Path = "runs",
                exist_ok: bool = False) -> Path:
    """Create and return a fresh run folder; with `exist_ok`, reuse runs/<verb>/<name> as is."""
    base = Path(root) / verb
    stem = name or "exp"
    candidate = base / stem
    if exist_ok:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    number = 2
    while candidate.exists():
        candidate = base / f"{stem}{number}"
        number += 1
    candidate.mkdir(parents=True)
    return candidate
