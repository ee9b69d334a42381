"""MkDocs hook: links from the docs to files elsewhere in the repository.

The pages link to the repository's own files as a reader of the checkout sees them
(`../benchmarks/results/search_agents.md`), so the links work in a clone and on a code host.
MkDocs only knows files under docs/: this hook adds every linked repository file to the site
under `repo/` (a Markdown file becomes a page, anything else is copied), rewrites the links to
point there, and warns about a link whose file does not exist, which fails `mkdocs build
--strict`. Markdown files added this way are followed one link further in the same way; their
links to files that do not exist (a result file naming a run folder's output) become plain text.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.repo_links")
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
PREFIX = "repo"


def _outside_fences(markdown: str, replace) -> str:
    """Apply `replace` to the text between fenced code blocks (code may contain `](`)."""
    out, last = [], 0
    for fence in FENCE.finditer(markdown):
        out += [replace(markdown[last:fence.start()]), fence.group(0)]
        last = fence.end()
    return "".join(out + [replace(markdown[last:])])


def _relative_target(target: str) -> str | None:
    path = target.split("#", 1)[0]
    if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path) or path.startswith("/"):
        return None
    return path


def _links(markdown: str) -> list[str]:
    found: list[str] = []
    _outside_fences(markdown, lambda text: found.extend(
        t for m in LINK.finditer(text) if (t := _relative_target(m["target"]))) or text)
    return found


def _repo_root(config) -> Path:
    return Path(config["docs_dir"]).resolve().parent


def on_files(files: Files, config) -> Files:
    docs, repo = Path(config["docs_dir"]).resolve(), _repo_root(config)
    queue = [(Path(f.abs_src_path), True) for f in files.documentation_pages()]
    added: set[Path] = set()
    while queue:
        source, ours = queue.pop()
        for link in _links(source.read_text(encoding="utf-8")):
            target = (source.parent / link).resolve()
            if target.is_relative_to(docs) or not target.is_relative_to(repo):
                continue  # MkDocs checks links inside docs/ itself
            if not target.is_file():
                if ours:  # a broken link in a docs page; others' dangling links are unlinked
                    kind = "a folder: link to a file in it" if target.is_dir() else "missing"
                    log.warning("%s links to %s, which is %s", source.relative_to(repo),
                                link, kind)
                continue
            if target in added:
                continue
            added.add(target)
            uri = f"{PREFIX}/{target.relative_to(repo).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(target)))
            if target.suffix == ".md":
                queue.append((target, False))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    docs, repo = Path(config["docs_dir"]).resolve(), _repo_root(config)
    source = Path(page.file.abs_src_path).resolve()
    ours = not page.file.src_uri.startswith(f"{PREFIX}/")

    def fix(match: re.Match) -> str:
        link = _relative_target(match["target"])
        if link is None:
            return match.group(0)
        target = (source.parent / link).resolve()
        here = posixpath.dirname(page.file.src_uri) or "."
        anchor = match["target"][len(link):]
        if target.is_relative_to(docs) and not ours:  # e.g. the README's links into docs/
            new = posixpath.relpath(target.relative_to(docs).as_posix(), here)
            return f"{match['bang']}[{match['text']}]({new}{anchor})"
        if target.is_relative_to(docs) or not target.is_relative_to(repo):
            return match.group(0)
        uri = f"{PREFIX}/{target.relative_to(repo).as_posix()}"
        if files.get_file_from_path(uri) is None:
            return match.group(0) if ours else match["text"]
        new = posixpath.relpath(uri, here)
        return f"{match['bang']}[{match['text']}]({new}{anchor})"

    return _outside_fences(markdown, lambda text: LINK.sub(fix, text))
