"""The latency cache: SQLite in WAL mode, one row per (architecture, input shape, precision,
backend, device).

A search measures hundreds of candidates and may be killed at any time; every measurement is
committed in its own transaction as soon as it exists, so a resumed search never re-measures,
and WAL lets other processes (a second search, `edgeprune latency`) read while one writes.
Reference-model baselines for drift detection live in a second table.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgeprune.cache_paths import default_cache_path
from edgeprune.errors import EdgepruneError
from edgeprune.latency.result import LatencyResult

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    arch_hash   TEXT NOT NULL,
    input_shape TEXT NOT NULL,
    precision   TEXT NOT NULL,
    backend     TEXT NOT NULL,
    device      TEXT NOT NULL,
    result      TEXT NOT NULL,
    created     REAL NOT NULL,
    PRIMARY KEY (arch_hash, input_shape, precision, backend, device)
);
CREATE TABLE IF NOT EXISTS reference_baselines (
    backend     TEXT NOT NULL,
    device      TEXT NOT NULL,
    input_shape TEXT NOT NULL,
    precision   TEXT NOT NULL,
    median_ms   REAL NOT NULL,
    created     REAL NOT NULL,
    PRIMARY KEY (backend, device, input_shape, precision)
);
"""


@dataclass(frozen=True)
class CacheKey:
    arch_hash: str
    input_shape: tuple[int, ...]
    precision: str
    backend: str  # name and version, e.g. "ort-cpu onnxruntime 1.20.1"
    device: str  # DeviceIdentity.key()

    def row(self) -> tuple[str, str, str, str, str]:
        return (self.arch_hash, "x".join(str(d) for d in self.input_shape), self.precision,
                self.backend, self.device)


class LatencyCache:
    """Thread-safe handle on the cache file (one SQLite connection per thread)."""

    def __init__(self, path: str | Path | None = None, timeout_s: float = 30.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.timeout_s = timeout_s
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors("open"):
            connection = self._connection()
            connection.executescript(_SCHEMA)
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                raise EdgepruneError(f"{self.path}: latency cache schema {version} is newer "
                                     f"than this edgeprune understands ({SCHEMA_VERSION})")

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=self.timeout_s,
                                         isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            # NORMAL loses nothing committed on a process crash in WAL mode; only a power cut
            # may drop the last transactions, which are re-measured next time.
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def _errors(self, action: str):
        return _cache_errors(self.path, action)

    def get(self, key: CacheKey) -> LatencyResult | None:
        with self._errors("read"):
            row = self._connection().execute(
                "SELECT result FROM measurements WHERE arch_hash=? AND input_shape=? AND "
                "precision=? AND backend=? AND device=?", key.row()).fetchone()
        if row is None:
            return None
        result = LatencyResult.loads(row[0])
        result.from_cache = True
        return result

    def put(self, key: CacheKey, result: LatencyResult) -> None:
        stored = LatencyResult.from_json(result.to_json())
        stored.from_cache = False
        with self._errors("write"):
            connection = self._connection()
            with _transaction(connection):
                connection.execute(
                    "INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*key.row(), stored.dumps(), time.time()))

    def __len__(self) -> int:
        with self._errors("read"):
            return self._connection().execute("SELECT COUNT(*) FROM measurements").fetchone()[0]

    def reference_baseline(self, key: CacheKey) -> float | None:
        """The first reference-model median recorded for this backend, device, shape and
        precision (the arch hash of `key` is ignored)."""
        _, shape, precision, backend, device = key.row()
        with self._errors("read"):
            row = self._connection().execute(
                "SELECT median_ms FROM reference_baselines WHERE backend=? AND device=? AND "
                "input_shape=? AND precision=?", (backend, device, shape, precision)).fetchone()
        return row[0] if row else None

    def set_reference_baseline(self, key: CacheKey, median_ms: float) -> None:
        _, shape, precision, backend, device = key.row()
        with self._errors("write"):
            connection = self._connection()
            with _transaction(connection):
                connection.execute(
                    "INSERT OR IGNORE INTO reference_baselines VALUES (?, ?, ?, ?, ?, ?)",
                    (backend, device, shape, precision, median_ms, time.time()))

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error: a row is written whole or not at all."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


@contextlib.contextmanager
def _cache_errors(path: Path, action: str) -> Iterator[None]:
    """Turns sqlite3 errors into an EdgepruneError naming the cache file."""
    try:
        yield
    except sqlite3.Error as exc:
        hint = (" (delete it: it only holds measurements, which are then taken again)"
                if "not a database" in str(exc) else "")
        raise EdgepruneError(f"{path}: cannot {action} the latency cache: {exc}{hint}") from None
