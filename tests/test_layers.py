"""The packages of edgeprune import each other without circles.

The graph is built from the source with `ast`: one node per package directly under edgeprune/
(edgeprune.latency holds edgeprune.latency.backends) and per top-level module
(edgeprune.atomic), one edge per import of another node. Imports inside functions count: they
run as soon as the function does, and deferring an import is how a circle hides, not how it
goes away. Imports under `if TYPE_CHECKING:` do not count: they never run and only name a
type for an annotation.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgeprune"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def node_of(module: str) -> str:
    """edgeprune.latency.backends.ort -> edgeprune.latency; edgeprune -> edgeprune."""
    return ".".join(module.split(".")[:2])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(path: Path, *, type_checking: bool = False,
                     submodules: bool = False) -> list[tuple[str, int]]:
    """(module, line) for every edgeprune import in `path` that runs, at any depth (with
    `type_checking`, those under `if TYPE_CHECKING:` too). `from edgeprune.x import name`
    counts as edgeprune.x, `from edgeprune import atomic` as edgeprune.atomic; with
    `submodules`, every `from package import name` as package.name (the caller keeps it
    where it is a module)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not type_checking:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.extend((f"{base}.{alias.name}" if submodules or base == "edgeprune"
                          else base, node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return [(name, line) for name, line in found
            if name == "edgeprune" or name.startswith("edgeprune.")]


def package_graph() -> dict[str, dict[str, str]]:
    """node -> {imported node: 'file:line' of the first such import}."""
    nodes = {node_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = node_of(module_name(path))
        edges = graph.setdefault(source, {})
        for name, line in imported_modules(path):
            target = node_of(name)
            if target not in nodes:  # `from edgeprune import __version__`: the root package
                target = "edgeprune"
            if target != source:
                edges.setdefault(target, f"{path.relative_to(PACKAGE.parent)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None when the graph is acyclic."""
    state: dict[str, str] = {}  # "open" while on the DFS path, "done" after
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := walk(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def describe(cycle: list[str], graph: dict[str, dict[str, str]]) -> str:
    steps = [f"  {a} -> {b}  ({graph[a][b]})" for a, b in
             zip(cycle[:-1], cycle[1:], strict=True)]
    return "import circle between packages:\n" + "\n".join(steps)


def test_packages_import_each_other_without_circles():
    graph = package_graph()
    cycle = find_cycle(graph)
    assert cycle is None, describe(cycle, graph)


def test_the_low_layers_sit_below_what_uses_them():
    """The ONNX and TensorRT packages are shared by latency, runtime and export, and data
    (letterbox, augmentation) by training, calibration and the runtime: none of them reaches
    up into a user."""
    graph = package_graph()
    users = {"edgeprune.latency", "edgeprune.runtime", "edgeprune.export", "edgeprune.train",
             "edgeprune.search", "edgeprune.cli", "edgeprune.deploy", "edgeprune.eval"}
    for low in ("edgeprune.onnxio", "edgeprune.trt", "edgeprune.data", "edgeprune.models"):
        assert not users & set(graph[low]), f"{low} imports {sorted(users & set(graph[low]))}"
    assert {"edgeprune.onnxio", "edgeprune.trt"} <= set(graph["edgeprune.latency"])
    assert {"edgeprune.onnxio", "edgeprune.trt"} <= set(graph["edgeprune.runtime"])


def test_a_circle_is_reported_with_the_imports_that_close_it():
    graph = {"edgeprune.a": {"edgeprune.b": "edgeprune/a/x.py:3"},
             "edgeprune.b": {"edgeprune.c": "edgeprune/b/y.py:7"},
             "edgeprune.c": {"edgeprune.a": "edgeprune/c/z.py:9"}}
    cycle = find_cycle(graph)
    assert cycle == ["edgeprune.a", "edgeprune.b", "edgeprune.c", "edgeprune.a"]
    assert describe(cycle, graph).splitlines()[1:] == [
        "  edgeprune.a -> edgeprune.b  (edgeprune/a/x.py:3)",
        "  edgeprune.b -> edgeprune.c  (edgeprune/b/y.py:7)",
        "  edgeprune.c -> edgeprune.a  (edgeprune/c/z.py:9)"]
    assert find_cycle({"edgeprune.a": {"edgeprune.b": "x"}, "edgeprune.b": {}}) is None


def module_graph(package: str) -> dict[str, dict[str, str]]:
    """module -> {imported module of the same package: 'file:line'}, one node per file
    (imports under TYPE_CHECKING count too: within a package they still tie two files)."""
    folder = PACKAGE.parent / package.replace(".", "/")
    modules = {module_name(p) for p in folder.rglob("*.py")}
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(folder.rglob("*.py")):
        source = module_name(path)
        edges = graph.setdefault(source, {})
        for name, line in imported_modules(path, type_checking=True, submodules=True):
            target = name if name in modules else name.rpartition(".")[0]  # `from x import f`
            if target in modules and target != source:
                edges.setdefault(target, f"{path.relative_to(PACKAGE.parent)}:{line}")
    return graph


def test_the_verbs_and_the_search_have_no_module_circles():
    """Every verb took its console from the command group, which imports every verb (a
    17-file circle); the search loop and its progress output imported each other. The
    consoles live in cli/terminal.py, shared options in cli/options.py, shared tables in
    cli/tables.py; only the package's face imports the group."""
    for package in ("edgeprune.cli", "edgeprune.search"):
        graph = module_graph(package)
        cycle = find_cycle(graph)
        assert cycle is None, describe(cycle, graph)
    importers = [module for module, edges in module_graph("edgeprune.cli").items()
                 if "edgeprune.cli.app" in edges]
    assert importers == ["edgeprune.cli"], importers


def test_the_onnx_package_does_not_import_the_models_it_exports_even_for_types():
    """edgeprune.models imports edgeprune.onnxio (to summarize .onnx files); onnxio's export
    takes any module of the shape it needs (a Protocol), not a DarknetModel."""
    for path in sorted((PACKAGE / "onnxio").rglob("*.py")):
        named = [f"{path.name}:{line} {name}" for name, line in
                 imported_modules(path, type_checking=True) if name.startswith("edgeprune.models")]
        assert not named, named
