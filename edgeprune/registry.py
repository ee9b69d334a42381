"""One small registry type for every plug-in family, chosen by name.

Each family (search agents, accuracy proxies, latency backends, inference runtimes, dataset
formats, importance criteria, corruptions) owns one `Registry`. A plug-in registers itself with
`@REGISTRY.register` in the module that defines it, under its `name` attribute; the family's
package imports its built-in plug-ins, and the registry imports that package (`builtins`) the
first time it is asked, so a caller that imports only the registry's module still finds them.
Every family reports an unknown name the same way: "unknown <kind> 'x' (known: a, b, c)",
the known names sorted.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from edgeprune.errors import EdgepruneError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plug-ins of one kind by name, in registration order.

    `kind` names the family in errors ("search agent"); `builtins` is the module whose import
    registers the built-in plug-ins (None when they live in the registry's own module); `error`
    is the EdgepruneError subclass an unknown name raises.
    """

    def __init__(self, kind: str, builtins: str | None = None,
                 error: type[EdgepruneError] = EdgepruneError) -> None:
        self.kind = kind
        self._builtins = builtins
        self._error = error
        self._entries: dict[str, T] = {}
        self._loading = threading.RLock()
        self._importing = False
        self._ready = False

    def register(self, item: T) -> T:
        """Decorator: add `item` (a class or object with a `name`) and return it unchanged."""
        name = getattr(item, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} needs a non-empty `name` to be registered, "
                            f"{item!r} has {name!r}")
        known = self._entries.get(name)
        if known is not None and known is not item:
            raise ValueError(f"{self.kind} {name!r} is already registered ({known!r})")
        self._entries[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove `name` (a plug-in registered for a while, e.g. by a test)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The plug-in registered as `name`; an unknown name raises the family's error."""
        entries = self._loaded()
        if name not in entries:
            raise self._error(f"unknown {self.kind} {name!r} (known: "
                              f"{', '.join(sorted(entries))})")
        return entries[name]

    def create(self, name: str, *args, **kwargs):
        """An instance of the plug-in class registered as `name`, built with the arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._loaded())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._loaded())

    def _loaded(self) -> dict[str, T]:
        if not self._ready:
            # Other threads wait here until the built-ins are in; the importing thread may ask
            # again while the module runs (a re-entrant lock) and gets what is registered so far.
            with self._loading:
                if not self._ready and not self._importing:
                    self._importing = True
                    try:
                        if self._builtins is not None:
                            importlib.import_module(self._builtins)
                    finally:
                        self._importing = False
                    self._ready = True
        return self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
