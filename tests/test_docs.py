"""The documentation: the MkDocs site builds with --strict (every link and anchor resolves, every
`::: cli` block names a real command), its generated tables hold every option of every verb, and
README.md stays a short entry page whose relative links all point at files of the checkout."""

from __future__ import annotations

import dataclasses
import html
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from edgeprune.cli.app import main
from edgeprune.latency.protocol import Protocol

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 220
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            str(out)], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr[-4000:]
    return out


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def _commands(command: click.Command, path: str):
    """Every visible command; hidden ones are the deprecated spellings, listed apart."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if not sub.hidden:
                yield from _commands(sub, f"{path} {name}")


def _sections(page: Path) -> dict[str, str]:
    """Heading id -> the text up to the next heading."""
    parts = re.split(r'<h\d id="([^"]+)"', page.read_text(encoding="utf-8"))
    return {anchor: html.unescape(re.sub(r"<[^>]+>", "", body))
            for anchor, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_the_site_builds_strict_and_lists_every_option_of_every_verb(site):
    sections = _sections(site / "cli" / "index.html")
    for path, command in _commands(main, "edgeprune"):
        anchor = path.replace(" ", "-")
        assert anchor in sections, f"{path} missing from docs/cli.md"
        for param in command.params:
            if not getattr(param, "hidden", False):
                shown = (param.opts[0] if isinstance(param, click.Option)
                         else param.human_readable_name)
                assert shown in sections[anchor], f"{path} {shown} not in its table"
    deprecated = sections["deprecated-spellings"]
    for old in ("edgeprune agent serve", "--backend", "--threads", "--cache", "agents:",
                "EDGEPRUNE_AGENT_TOKEN"):
        assert old in deprecated, f"{old} not among the deprecated spellings"
    # the option tables are tables, on the pages that explain them too
    search = (site / "search" / "index.html").read_text(encoding="utf-8")
    row = re.search(r"<tr>\s*<td><code>--target-latency</code></td>.*?</tr>", search, re.DOTALL)
    assert row, "no --target-latency row in the search page's option table"
    results = site / "repo" / "benchmarks" / "results"
    assert (results / "search_agents-issue13" / "index.html").is_file()


def test_the_agent_option_tables_come_from_the_agents(site):
    from edgeprune.search.agents.base import agent_class, agent_names

    page = _text(site / "agents" / "index.html")
    for name in agent_names():
        for option, declared in getattr(agent_class(name), "OPTIONS", {}).items():
            assert re.search(rf"{option}\s+{re.escape(str(declared.default))}", page), \
                f"agent {name}: option {option} (default {declared.default}) not in agents.md"


def test_every_protocol_field_is_documented_with_its_default():
    rows = [line for line in (REPO / "docs" / "latency.md").read_text().splitlines()
            if line.startswith("| `")]
    for field in dataclasses.fields(Protocol):
        row = next((r for r in rows if f"`{field.name}`" in r.split("|")[1]), None)
        assert row, f"Protocol.{field.name} missing from the protocol table in docs/latency.md"
        names = re.findall(r"`(\w+)`", row.split("|")[1])
        defaults = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", row.split("|")[2])]
        assert float(field.default) == defaults[names.index(field.name)], field.name


def test_the_readme_is_an_entry_page():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    first = "\n".join(lines[:6])
    assert first.index("make demo") < first.index("make test"), "the two commands come first"


def test_every_relative_link_of_the_readme_points_at_a_file_of_the_checkout():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in LINK.findall(text)
               if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    assert targets, "the README links into docs/"
    for target in targets:
        path = (REPO / target).resolve()
        assert path.is_relative_to(REPO), f"README links outside the checkout: {target}"
        assert path.is_file(), f"README links to {target}, which is not a file"
