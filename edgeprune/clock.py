"""The one timestamp format edgeprune stores (records, provenance, sidecars, calibration sets)."""

from __future__ import annotations

import datetime as dt


def utc_now() -> str:
    """Now in UTC, ISO 8601 to the second: '2026-11-21T10:06:58+00:00'."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
