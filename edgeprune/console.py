"""Untrusted text on the console: rich reads `[...]` as markup, so a path like `x[/y].cfg`, a
label line `[/x] 0.5 ...` or a YAML key `[frobnicate]` would crash the message or vanish from
it. Everything that comes from a user's files, names or keys goes through `escape` before it
is put into a rich message, a table cell or a progress description.
"""

from __future__ import annotations

from rich.markup import escape as _rich_escape


def escape(value: object) -> str:
    """`value` as text that rich prints literally."""
    return _rich_escape(str(value))
