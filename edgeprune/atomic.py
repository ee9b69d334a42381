"""Atomic file writes: a temp file in the target's folder, flushed, then renamed over it.

Checkpoints, engines, caches and run logs go through here so a killed process leaves either the
old file or the new one, never half of one. Temp files carry their writer's pid
(`.NAME.PID.RANDOM.tmp`): one left by a killed writer is removed the next time NAME is written.
New files get the mode the umask gives (as `open` would), not mkstemp's 0600, unless the caller
asks for a private file (tokens, the device registry).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting it, so under a lock; Linux shows it in /proc too)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove `.NAME.PID.*.tmp` beside `path` whose writer is gone; returns what was removed."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[^.]+\.tmp$")
    removed = []
    with contextlib.suppress(OSError):
        for candidate in path.parent.iterdir():
            match = pattern.match(candidate.name)
            if match and int(match.group(1)) != os.getpid() and \
                    not process_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed


@contextlib.contextmanager
def temp_beside(path: str | Path, mode: str = "wb", *,
                private: bool = False) -> Iterator[tuple[IO, Path]]:
    """(open handle, temp path) of a temp file beside `path`, flushed to disk when the block
    ends; the caller renames it into place. Removed when the block fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                     dir=path.parent)
    encoding = None if "b" in mode else "utf-8"
    try:
        os.fchmod(fd, 0o600 if private else 0o666 & ~current_umask())
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle, Path(temp_name)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", *, private: bool = False) -> Iterator[IO]:
    """Open a temp file beside `path`; on success it replaces `path`, on error it is removed.
    `private` makes the file 0600 whatever the umask."""
    with temp_beside(path, mode, private=private) as (handle, temp):
        yield handle
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def atomic_write_text(path: str | Path, text: str, *, private: bool = False) -> None:
    with atomic_write(path, "w", private=private) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)
