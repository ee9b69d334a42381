"""MkDocs hook: the search agents' `--agent-option` tables, generated from the agents.

`::: agent-options abcp` becomes a table of that agent's `OPTIONS` (name, default, allowed range,
meaning) and `::: agent-options shared` one of the options every learning agent takes
(`AIM_OPTIONS`), so the documented defaults are the code's. An unknown agent fails the build.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

BLOCK = re.compile(r"^::: agent-options (?P<name>[a-z0-9_-]+)\s*$", re.MULTILINE)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return BLOCK.sub(lambda match: render(match["name"], page.file.src_uri), markdown)


def render(name: str, where: str) -> str:
    from edgeprune.errors import EdgepruneError
    from edgeprune.search.agents.base import agent_class
    from edgeprune.search.agents.common import AIM_OPTIONS

    if name == "shared":
        options = AIM_OPTIONS
    else:
        try:
            options = getattr(agent_class(name), "OPTIONS", {})
        except EdgepruneError as exc:
            raise PluginError(f"{where}: '::: agent-options {name}': {exc}") from exc
    if not options:
        return f"`{name}` declares no options."
    rows = ["| option | default | range | meaning |", "|---|---|---|---|"]
    for key, option in options.items():
        low = "" if option.low is None else option.low
        high = "" if option.high is None else option.high
        span = f"{low} .. {high}" if (low, high) != ("", "") else ""
        rows.append(f"| `{key}` | {option.default} | {span} | {option.help} |")
    return "\n".join(rows) + "\n"
