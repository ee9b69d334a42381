"""Outputs made of several files, written as a set: a reader finds the old set, the new set,
or a set it can tell is incomplete, never a new .cfg beside an old .weights.

Files (`write_file_set`): every member is written to a temp file beside its target first (a
kill then leaves the old set untouched and a temp that the next write removes); then the
temps are renamed into place and the manifest, with each member's size and sha256, is written
last. A kill between two renames leaves the OLD manifest, which the new members fail:
`check_file_set` tells such a set from a complete one.

Folders (`staged_folder`): the new content is built in a temp folder beside the target and
renamed into place when complete; the old folder is removed after.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from edgeprune.atomic import atomic_write_text, process_alive, temp_beside
from edgeprune.errors import EdgepruneError

MANIFEST_FORMAT = "edgeprune-file-set/1"


def write_file_set(files: dict[Path, bytes | str], manifest: Path | None = None) -> None:
    """Write `files` (path -> content) as one set, renamed into place in their order;
    `manifest` (written last) lists them. Without a manifest, name last the file a reader
    checks the others by (an engine's sidecar, which records the engine's sha256)."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            with temp_beside(path) as (handle, temp):
                handle.write(data)
            temps.append((temp, Path(path)))
        for temp, path in temps:
            os.replace(temp, path)
    except BaseException:
        for temp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        raise
    if manifest is not None:
        members = {path.name: {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
                   for path in files}
        atomic_write_text(manifest, json.dumps({"format": MANIFEST_FORMAT,
                                                "files": members}, indent=2) + "\n")


def check_file_set(manifest: Path) -> None:
    """Raise when a member of the set `manifest` lists is missing or not the one written."""
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
        members = record["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise EdgepruneError(f"{manifest}: not a readable file-set manifest") from None
    for name, expected in members.items():
        path = manifest.parent / name
        if not path.is_file():
            raise EdgepruneError(f"{path}: missing from the set {manifest} lists (an "
                                 f"interrupted export?); export again")
        if path.stat().st_size != expected.get("bytes") or \
                file_sha256(path) != expected.get("sha256"):
            raise EdgepruneError(f"{path}: not the file {manifest} was written with (the set "
                                 f"was changed or its export interrupted); export again")


@contextlib.contextmanager
def staged_folder(folder: str | Path) -> Iterator[Path]:
    """A temp folder beside `folder` to build its new content in; when the block succeeds it
    replaces `folder`, when it fails it is removed. Temp folders of killed writers go too."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_folders(folder)
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _remove_stale_folders(folder: Path) -> None:
    """Remove what killed writers left; an old folder a writer had moved aside but not yet
    replaced goes back into place."""
    prefix = f".{folder.name}."
    with contextlib.suppress(OSError):
        for candidate in sorted(folder.parent.iterdir()):
            rest = candidate.name[len(prefix):] if candidate.name.startswith(prefix) else ""
            pid, _, kind = rest.partition(".")
            if kind not in ("new", "old") or not pid.isdigit() or process_alive(int(pid)):
                continue
            if kind == "old" and not folder.exists():
                os.replace(candidate, folder)
            else:
                shutil.rmtree(candidate, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (uploads and members can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
