"""Reading the YAML profile files in robots/ (device and robot profiles): the mapping, the line
of each field, and field-by-field conversion whose errors name the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from edgeprune.errors import EdgepruneError


def read_yaml_fields(path: Path, what: str) -> tuple[object, dict[str, int]]:
    """The parsed YAML of `path` and the 1-based line of each top-level key (empty when the
    document is not a mapping). `what` ("device profile") names the file in errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EdgepruneError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise EdgepruneError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") \
            from None
    lines = ({key.value: key.start_mark.line + 1 for key, _ in node.value}
             if isinstance(node, yaml.MappingNode) else {})
    return data, lines


def field_locator(source: str, lines: dict[str, int] | None) -> Callable[[str], str]:
    """`where(key)`: 'FILE:LINE' of a field when its line is known, else 'FILE'."""
    lines = lines or {}

    def where(key: str) -> str:
        return f"{source}:{lines[key]}" if key in lines else source

    return where


def convert_fields(data: dict, known: set[str], where: Callable[[str], str],
                   convert: Callable[[str, object], object]) -> dict:
    """Every field of `data` checked against `known` and passed through `convert(key, value)`;
    null fields are left out (the default applies). The first problem is an error that names
    its place and field."""
    for key in data:
        if key not in known:
            raise EdgepruneError(f"{where(key)}: unknown field {key!r} (known: "
                                 f"{', '.join(sorted(known))})")
    values: dict = {}
    for key, value in data.items():
        if value is None:
            continue
        try:
            values[key] = convert(key, value)
        except (EdgepruneError, TypeError, ValueError) as exc:
            raise EdgepruneError(f"{where(key)}: {key}: {exc}") from None
    return values


def renamed_keys(data: dict, renames: dict[str, str], where: Callable[[str], str],
                 what: str) -> dict:
    """`data` with the last release's keys (`renames`: old -> new) under their new names, a
    deprecation warning for each; an old key beside its new one is an error. `what` names
    the kind of file in the warning ("profile", "robot profile")."""
    from edgeprune.deprecation import warn_deprecated

    renamed = dict(data)
    for old, new in renames.items():
        if old in renamed:
            if new in renamed:
                raise EdgepruneError(f"{where(old)}: `{old}` is the old name of `{new}`; "
                                     f"give `{new}` only")
            warn_deprecated(f"the {what} key `{old}`", f"`{new}`", where(old))
            renamed[new] = renamed.pop(old)
    return renamed
