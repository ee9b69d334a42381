"""The registry type every plug-in family uses, and the families built on it."""

import sys
import threading
import time

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.registry import Registry


class Shape:
    name = "shape"

    def __init__(self, size: int, colour: str = "red") -> None:
        self.size, self.colour = size, colour


class Circle(Shape):
    name = "circle"


class Square(Shape):
    name = "square"


class ShapeError(EdgepruneError):
    pass


def test_register_is_a_decorator_and_names_keep_registration_order():
    shapes: Registry[type[Shape]] = Registry("shape")
    assert shapes.register(Square) is Square
    shapes.register(Circle)
    assert shapes.names() == ["square", "circle"] == list(shapes)
    assert "circle" in shapes and "triangle" not in shapes and len(shapes) == 2
    assert shapes.get("circle") is Circle
    made = shapes.create("square", 3, colour="blue")
    assert isinstance(made, Square) and (made.size, made.colour) == (3, "blue")


def test_unknown_name_is_one_error_format_with_the_sorted_known_names():
    shapes: Registry[type[Shape]] = Registry("shape", error=ShapeError)
    shapes.register(Square)
    shapes.register(Circle)
    with pytest.raises(ShapeError) as caught:
        shapes.create("triangle", 1)
    assert str(caught.value) == "unknown shape 'triangle' (known: circle, square)"
    with pytest.raises(EdgepruneError, match=r"^unknown shape 'x' \(known: \)$"):
        Registry("shape").get("x")


def test_a_name_is_registered_once_and_can_be_removed():
    shapes: Registry[type[Shape]] = Registry("shape")
    shapes.register(Circle)
    shapes.register(Circle)  # the same plug-in again (a module imported twice) is harmless
    impostor = type("Circle", (Shape,), {"name": "circle"})
    with pytest.raises(ValueError, match="shape 'circle' is already registered"):
        shapes.register(impostor)
    with pytest.raises(TypeError, match="needs a non-empty `name`"):
        shapes.register(type("Nameless", (), {}))
    shapes.unregister("circle")
    shapes.unregister("circle")  # removing twice is harmless
    assert shapes.names() == []
    shapes.register(impostor)
    assert shapes.get("circle") is impostor


# A registry whose built-ins live in a module it imports when first asked (as the families do).
LAZY: Registry[type[Shape]] = Registry("shape", builtins="registry_test_plugins")

PLUGINS = """
from tests.test_registry import LAZY, Shape

@LAZY.register
class Hexagon(Shape):
    name = "hexagon"

# Asking the registry while its built-ins are being imported does not import them again.
assert LAZY.names() == ["hexagon"]
"""


def test_builtins_module_is_imported_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "registry_test_plugins.py").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "registry_test_plugins", raising=False)
    assert "registry_test_plugins" not in sys.modules
    assert LAZY.get("hexagon").name == "hexagon"
    assert "registry_test_plugins" in sys.modules and LAZY.names() == ["hexagon"]


SLOW: Registry[type[Shape]] = Registry("shape", builtins="registry_test_slow_plugins")

SLOW_PLUGINS = """
import time

from tests.test_registry import SLOW, Circle, Square

SLOW.register(Circle)
time.sleep(0.3)  # another thread asks meanwhile
SLOW.register(Square)
"""


def test_another_thread_waits_for_the_builtins(tmp_path, monkeypatch):
    (tmp_path / "registry_test_slow_plugins.py").write_text(SLOW_PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "registry_test_slow_plugins", raising=False)
    seen = {}
    first = threading.Thread(target=lambda: seen.setdefault("first", SLOW.names()))
    first.start()
    while "registry_test_slow_plugins" not in sys.modules:
        time.sleep(0.01)
    seen["second"] = SLOW.names()  # started while the first thread imports
    first.join(timeout=10)
    assert seen == {"first": ["circle", "square"], "second": ["circle", "square"]}


def test_a_failed_builtins_import_is_retried():
    shapes: Registry[type[Shape]] = Registry("shape", builtins="edgeprune_no_such_module")
    for _ in range(2):
        with pytest.raises(ModuleNotFoundError):
            shapes.names()


def test_every_plugin_family_finds_its_builtins_through_its_registry():
    from edgeprune.data.corruptions import CORRUPTIONS, CorruptionError
    from edgeprune.data.dataset import DataError
    from edgeprune.data.formats.base import FORMATS
    from edgeprune.latency.backends.base import BACKENDS as LATENCY_BACKENDS
    from edgeprune.prune.importance import IMPORTANCE
    from edgeprune.runtime.backends import RUNTIMES
    from edgeprune.search.agents.base import AGENTS
    from edgeprune.search.proxy import PROXIES

    families = [
        (AGENTS, "search agent", {"abcp", "purl", "rlpruner", "gcn", "uniform", "random"},
         EdgepruneError),
        (PROXIES, "accuracy proxy", {"bn-recal", "finetune", "pruningnet", "slimmable"},
         EdgepruneError),
        (LATENCY_BACKENDS, "latency backend", {"ort-cpu", "ort-cuda", "tensorrt", "remote"},
         EdgepruneError),
        (RUNTIMES, "inference runtime", {"torch", "onnxruntime", "tensorrt"},
         EdgepruneError),
        (FORMATS, "dataset format", {"yolo", "darknet", "voc", "coco", "abcp"}, DataError),
        (IMPORTANCE, "importance criterion", {"l1", "l2", "bn_scale", "random"},
         EdgepruneError),
        (CORRUPTIONS, "corruption", {"jpeg", "gaussian_noise", "motion_blur"}, CorruptionError),
    ]
    for registry, kind, builtins, error in families:
        assert isinstance(registry, Registry) and registry.kind == kind
        assert builtins <= set(registry.names()), kind
        with pytest.raises(error, match=rf"^unknown {kind} 'nope' \(known: "):
            registry.get("nope")
