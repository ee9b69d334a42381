"""Deprecated spellings: what the last release accepted keeps working for one more, with a
warning on stderr naming its replacement.

Library code (profile keys, environment variables) calls `warn_deprecated`; command-line
aliases go through `edgeprune.cli.deprecation`, which calls it too, so every old spelling is
announced the same way.
"""

from __future__ import annotations

import sys

REMOVED_IN = "the next release"


def warn_deprecated(old: str, new: str, where: str | None = None) -> None:
    """Say on stderr that `old` still works but goes in the next release, and what replaces
    it; `where` names the file or command the old spelling was found in."""
    place = f"{where}: " if where else ""
    # plain stderr, not warnings.warn: a user reads this in a terminal, not a test log, and a
    # DeprecationWarning is hidden by default outside __main__
    print(f"warning: {place}{old} is deprecated and goes in {REMOVED_IN}; use {new}",
          file=sys.stderr)
