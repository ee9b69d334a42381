"""MkDocs hook: command-line reference generated from the click commands themselves.

A line `::: cli edgeprune search` in a page is replaced by that command's help text, usage and a
table of its arguments and options (names, type, default, help), read from
`edgeprune.cli.app:main`; a group is followed by each of its sub-commands. So the option tables
cannot drift from the code: a renamed or removed command fails the (strict) build.

Why not mkdocs-click's table style: with click >= 8.3 it prints click's internal `UNSET`
sentinel as the default of every option without one, and a `|` in a help text breaks its table.
"""

from __future__ import annotations

import inspect
import re

import click
from mkdocs.exceptions import PluginError

BLOCK = re.compile(r"^::: cli (?P<path>edgeprune(?: [a-z0-9-]+)*)\s*$", re.MULTILINE)
HEADING_LEVEL = 3  # blocks sit under a "## Command line" section; sub-commands one level down


def on_page_markdown(markdown: str, page, config, files) -> str:
    return BLOCK.sub(lambda match: render(match["path"], page.file.src_uri), markdown)


def render(path: str, where: str) -> str:
    from edgeprune.cli.app import main

    names = path.split()[1:]
    command: click.Command = main
    ctx = _context(main, "edgeprune", None)
    for name in names:
        sub = command.get_command(ctx, name) if isinstance(command, click.Group) else None
        if sub is None:
            raise PluginError(f"{where}: '::: cli {path}': no such command")
        command = sub
        ctx = _context(command, name, ctx)
    return "\n".join(_command_lines(ctx, HEADING_LEVEL))


def _context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    return command.context_class(command, info_name=name, parent=parent,
                                 **command.context_settings)


def _command_lines(ctx: click.Context, level: int) -> list[str]:
    command = ctx.command
    lines = [f"{'#' * level} `{ctx.command_path}`", ""]
    lines += _help_lines(command.help or command.short_help or "")
    pieces = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```text", f"{ctx.command_path} {pieces}".rstrip(), "```", ""]
    help_option = command.get_help_option(ctx)  # every verb has -h/--help: not listed
    params = [p for p in command.get_params(ctx)
              if not getattr(p, "hidden", False) and p is not help_option]
    if params:
        lines += ["| argument / option | type | default | meaning |", "|---|---|---|---|"]
        lines += [_param_row(ctx, param) for param in params]
        lines.append("")
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                lines += _command_lines(_context(sub, name, ctx), level + 1)
    return lines


def _help_lines(text: str) -> list[str]:
    """click's help: paragraphs rewrap; one after a \\b line is kept as written (examples)."""
    text = text.split("\f")[0]
    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(text).strip()):
        rows = paragraph.splitlines()
        if rows and rows[0].strip() == "\b":
            lines += ["```text", *rows[1:], "```", ""]
        elif paragraph.strip():
            lines += [_escape(" ".join(row.strip() for row in rows)), ""]
    return lines


def _param_row(ctx: click.Context, param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        names = f"`{param.make_metavar(ctx)}`"
        meaning = "argument"
    else:
        names = ", ".join(f"`{opt}`" for opt in param.opts)
        if param.secondary_opts:
            names += " / " + ", ".join(f"`{opt}`" for opt in param.secondary_opts)
        meaning = _escape(" ".join((param.help or "").split()))
        if param.multiple and "repeatable" not in meaning:
            meaning += " (repeatable)"
        if param.envvar:
            envvars = [param.envvar] if isinstance(param.envvar, str) else param.envvar
            meaning += " (environment: " + ", ".join(f"`{name}`" for name in envvars) + ")"
    return f"| {names} | {_type_text(param)} | {_default_text(ctx, param)} | {meaning} |"


def _type_text(param: click.Parameter) -> str:
    kind = param.type
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    if isinstance(kind, click.Choice):
        return " \\| ".join(f"`{choice}`" for choice in kind.choices)
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        number = "integer" if isinstance(kind, click.IntRange) else "number"
        if kind.min is not None and kind.max is not None:
            return f"{number} in {'(' if kind.min_open else '['}{kind.min}, {kind.max}" \
                   f"{')' if kind.max_open else ']'}"
        if kind.min is not None:
            return f"{number} {'&gt;' if kind.min_open else '&gt;='} {kind.min}"
        return f"{number} {'&lt;' if kind.max_open else '&lt;='} {kind.max}"
    return {"text": "text", "integer": "integer", "float": "number", "boolean": "flag",
            "file": "file", "directory": "folder", "path": "path"}.get(kind.name, kind.name)


def _default_text(ctx: click.Context, param: click.Parameter) -> str:
    if param.required:
        return "required"
    shown = getattr(param, "show_default", None)
    if isinstance(shown, str):  # a text the command wrote for a computed default
        return _escape(shown)
    default = param.get_default(ctx, call=False)
    if callable(default) or default is None or repr(default) == "Sentinel.UNSET":
        return ""
    if isinstance(param, click.Option) and param.is_flag and param.secondary_opts:
        return f"`{(param.opts if default else param.secondary_opts)[0]}`"
    if isinstance(param, click.Option) and param.is_flag:
        return "on" if default else "off"
    if isinstance(default, (list, tuple)):
        return ", ".join(f"`{item}`" for item in default)
    return f"`{default}`"


def _escape(text: str) -> str:
    """Markdown-safe outside `code` spans: help texts are plain text, not Markdown."""
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"([\\*_|\[\]])", r"\\\1", parts[i]).replace("<", "&lt;")
    return "".join(parts)
