"""Run folders: runs/<verb>/<name>, never overwriting an earlier run (name, name2, name3...),
and locked while a process works in them.

The lock is an OS file lock (flock, through the filelock package) on `.edgeprune.lock` in the
folder: the kernel drops it when its process ends, however it ends, so a lock file left by a
killed run never blocks the next one. Beside it `.edgeprune.lock.owner` says who holds it, for
the "in use by PID N" error a second process gets.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from edgeprune.errors import EdgepruneError

LOCK_FILE = ".edgeprune.lock"
OWNER_FILE = ".edgeprune.lock.owner"


class RunFolderInUse(EdgepruneError):
    """Another process works in this run folder."""


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
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:  # taken, maybe a moment ago by another process
            candidate = base / f"{stem}{number}"
            number += 1


@contextlib.contextmanager
def new_run(verb: str, name: str | None = None, root: str | Path = "runs", *,
            folder: str | Path | None = None) -> Iterator[Path]:
    """A run folder for the block: `folder` when given (made if missing), else a fresh
    runs/<verb>/<name>. When the block fails before writing into it (lock files aside), the
    folder goes again with the parents it made: a verb that stops on bad input leaves no empty
    run folder behind. A folder that existed before is never removed."""
    base = Path(folder) if folder is not None else Path(root) / verb
    made = [path for path in (base, *base.parents) if not path.exists()]
    if folder is not None:
        target = base
        target.mkdir(parents=True, exist_ok=True)
    else:
        target = new_run_dir(verb, name, root)
        made.insert(0, target)
    try:
        yield target
    except BaseException:
        _remove_unused(made)
        raise


def _remove_unused(folders: list[Path]) -> None:
    """Remove `folders` (innermost first) while each holds nothing but lock files."""
    for folder in folders:
        if not folder.exists():  # removed already (a failed search cleans its own folder)
            continue
        try:
            entries = list(folder.iterdir())
            if any(entry.name not in (LOCK_FILE, OWNER_FILE) for entry in entries):
                return
            for entry in entries:
                entry.unlink(missing_ok=True)
            folder.rmdir()
        except OSError:  # gone already, or another process wrote into it meanwhile
            return


@contextlib.contextmanager
def locked_run_dir(folder: str | Path, verb: str, hold: bool = True) -> Iterator[Path]:
    """Hold the run folder's lock for the block; another holder is a RunFolderInUse error.
    `hold=False` (the other ranks of a torchrun job, whose rank 0 holds it) skips the lock."""
    if not hold:
        yield Path(folder)
        return
    from filelock import FileLock, Timeout

    from edgeprune.atomic import atomic_write_text
    from edgeprune.clock import utc_now

    folder = Path(folder)
    if not folder.is_dir():
        raise EdgepruneError(f"{folder}: no such run folder")
    lock = FileLock(folder / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunFolderInUse(f"{folder}: in use by {_owner(folder)}; wait for it to finish or "
                             f"stop it, or use another run folder") from None
    owner = folder / OWNER_FILE
    try:
        atomic_write_text(owner, json.dumps({"pid": os.getpid(), "verb": verb,
                                             "since": utc_now()}) + "\n")
        yield folder
    finally:
        with contextlib.suppress(OSError):
            owner.unlink()
        lock.release()


def _owner(folder: Path) -> str:
    try:
        record = json.loads((folder / OWNER_FILE).read_text())
        return (f"PID {int(record['pid'])} ({record.get('verb', 'a run')} since "
                f"{record.get('since', '?')})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (its PID is not recorded yet)"
