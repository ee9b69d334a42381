"""Device profiles (robots/*.yaml): which backend measures, where, at what precision and input
size, and the latency budget a model must meet there.

`--device` accepts a registered device's name (`edgeprune device add`, latency/registry.py),
a profile name (robots/NAME.yaml), a path to a profile file, or a server address
(http://HOST:PORT).
Unknown keys and wrong types are errors naming the file and line, because a misspelt
`latency_budget_ms` silently ignored would make a search optimize for the wrong target.

A profile may list `servers: [...]` instead of one `server`: identical boards used as a pool
by a search on a cluster (one device actor each). Anything else measures on the first of them.
`agent` and `agents`, the keys' names in the last release, are read with a warning.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.latency.profiles.fields import (
    convert_fields,
    field_locator,
    read_yaml_fields,
    renamed_keys,
)
from edgeprune.latency.result import check_precision
from edgeprune.models.loading import parse_imgsz

PROFILES_ENV = "EDGEPRUNE_ROBOTS"


def shipped_profiles_dir() -> Path:
    """The profiles shipped with edgeprune: the robots/ folder, installed as the package
    edgeprune.robots (pyproject.toml), so a checkout and an installed wheel both have it."""
    import importlib.resources

    return Path(str(importlib.resources.files("edgeprune.robots")))


@dataclass(frozen=True)
class DeviceProfile:
    """One device's measuring setup. See robots/README.md for every field."""

    name: str
    description: str = ""
    backend: str = "ort-cpu"
    server: str | None = None  # http://HOST:PORT: measure there with `backend`
    servers: tuple[str, ...] = ()  # a pool of identical boards, each http://HOST:PORT
    precision: str = "fp32"
    imgsz: tuple[int, int] | None = None  # (height, width); None: the model's own
    batch: int = 1
    latency_budget_ms: float | None = None
    threads: int | None = None  # ort-cpu intra-op threads; 0 or None: one per CPU
    workspace_mb: int | None = None  # tensorrt builder workspace
    timing_cache: str | None = None  # tensorrt timing cache file
    camera: tuple[int, int] | None = None  # (width, height) of the robot's camera
    protocol: dict = field(default_factory=dict)  # overrides of Protocol's defaults
    token_file: str | None = None  # the server's token, for `server`
    source: str = "<built-in>"

    def members(self) -> list[DeviceProfile]:
        """One profile per physical device: each server of a pool, else this one."""
        if not self.servers:
            return [self]
        return [dataclasses.replace(self, server=url, servers=(),
                                    name=f"{self.name}[{index}]")
                for index, url in enumerate(self.servers)]

    def backend_options(self) -> dict:
        """Options for the local backend (the server applies its own when `server` is set)."""
        if self.backend == "ort-cpu":
            return {"threads": self.threads}
        if self.backend == "tensorrt":
            options = {}
            if self.workspace_mb is not None:
                options["workspace_mb"] = self.workspace_mb
            if self.timing_cache is not None:
                options["timing_cache"] = self.timing_cache
            return options
        return {}


_TYPES = {"name": str, "description": str, "backend": str, "server": str, "precision": str,
          "batch": int, "latency_budget_ms": (int, float), "threads": int,
          "workspace_mb": int, "timing_cache": str, "protocol": dict, "token_file": str,
          "servers": list}
RENAMED_KEYS = {"agent": "server", "agents": "servers"}  # last release's name: the new one


def profile_search_path() -> list[Path]:
    """Where profile names are looked up: ./robots, $EDGEPRUNE_ROBOTS, the shipped profiles."""
    paths = [Path.cwd() / "robots"]
    if os.environ.get(PROFILES_ENV):
        paths.append(Path(os.environ[PROFILES_ENV]))
    paths.append(shipped_profiles_dir())
    return list(dict.fromkeys(p.resolve() for p in paths))


def find_profile(name: str) -> Path:
    for folder in profile_search_path():
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(p) for p in profile_search_path())
    available = sorted({p.stem for folder in profile_search_path() if folder.is_dir()
                        for p in folder.glob("*.yaml")})
    raise EdgepruneError(f"no device profile {name!r} nor a registered device of that name "
                         f"(looked in {searched}; available: "
                         f"{', '.join(available) or 'none'}); --device also takes a .yaml "
                         f"path or http://HOST:PORT, and `edgeprune device add {name} "
                         f"http://HOST:PORT --token-file F --profile P` registers a device")


def load_profile(path: str | Path) -> DeviceProfile:
    """Read and check a profile file."""
    path = Path(path)
    data, lines = read_yaml_fields(path, "device profile")
    if not isinstance(data, dict):
        raise EdgepruneError(f"{path}: a device profile is a mapping of fields (see "
                             f"robots/README.md)")
    if "device" in data:  # a robot profile: its device's setup with the robot's size and budget
        from edgeprune.latency.profiles.robot import load_robot

        return load_robot(path).as_device_profile()
    return profile_from_dict(data, str(path), lines)


def profile_from_dict(data: dict, source: str, lines: dict | None = None) -> DeviceProfile:
    known = {f.name for f in fields(DeviceProfile)} - {"source"}
    where = field_locator(source, lines)
    data = renamed_keys(data, RENAMED_KEYS, where, "profile")
    where = field_locator(source, {RENAMED_KEYS.get(k, k): v for k, v in (lines or {}).items()})
    values = convert_fields(data, known, where, _convert)
    values.setdefault("name", Path(source).stem)
    if values.get("server") and values.get("servers"):
        raise EdgepruneError(f"{where('servers')}: give `server` (one device) or `servers` (a "
                             f"pool of identical boards), not both")
    try:
        from edgeprune.latency.protocol import Protocol

        Protocol().with_overrides(values.get("protocol"), "protocol")
    except EdgepruneError as exc:
        raise EdgepruneError(f"{where('protocol')}: {exc}") from None
    return DeviceProfile(**values, source=source)


def _convert(key: str, value):
    if key == "imgsz":
        return parse_imgsz(value)
    if key == "camera":
        if not (isinstance(value, list) and len(value) == 2 and
                all(isinstance(v, int) and v > 0 for v in value)):
            raise ValueError(f"expected [width, height] in pixels, got {value!r}")
        return (value[0], value[1])
    expected = _TYPES[key]
    if isinstance(value, bool) or not isinstance(value, expected):
        names = (" or ".join(t.__name__ for t in expected) if isinstance(expected, tuple)
                 else expected.__name__)
        raise ValueError(f"expected {names}, got {value!r}")
    if key == "precision":
        check_precision(value)
    if key == "backend":
        from edgeprune.latency.backends import BACKENDS

        try:
            BACKENDS.get(value)
        except EdgepruneError as exc:  # raised again as ValueError: the caller adds the line
            raise ValueError(str(exc)) from None
    if key == "server":
        from edgeprune.latency.client import normalize_url

        return normalize_url(value)
    if key == "servers":
        from edgeprune.latency.client import normalize_url

        if not value or not all(isinstance(url, str) for url in value):
            raise ValueError(f"expected a list of http://HOST:PORT addresses, got {value!r}")
        urls = tuple(normalize_url(url) for url in value)
        if len(set(urls)) != len(urls):
            raise ValueError(f"an address appears twice in {list(urls)}")
        return urls
    if key in ("batch", "workspace_mb") and value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    if key in ("threads",) and value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    if key == "latency_budget_ms":
        if value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return float(value)
    return value


def resolve_profile(spec: str | DeviceProfile | None, registered: bool = True) -> DeviceProfile:
    """A profile from a registered device's name (unless `registered` is False), a profile
    name, a .yaml path, or a server address (a profile of its own)."""
    if isinstance(spec, DeviceProfile):
        return spec
    spec = spec or "cpu"
    if registered and not spec.startswith(("http://", "https://")):
        from edgeprune.latency.registry import find_registered, registry_path

        device = find_registered(spec)
        if device is not None:
            base = (resolve_profile(device.profile, registered=False) if device.profile
                    else DeviceProfile(name=device.name, backend="remote"))
            return dataclasses.replace(base, name=device.name, server=device.url,
                                       token_file=device.token_file,
                                       source=f"{registry_path()}: {device.name}")
    if spec.startswith(("http://", "https://")):
        from edgeprune.latency.client import normalize_url

        return DeviceProfile(name=spec, backend="remote", server=normalize_url(spec),
                             source="--device")
    if spec.endswith((".yaml", ".yml")) or os.sep in spec:
        return load_profile(spec)
    return load_profile(find_profile(spec))
