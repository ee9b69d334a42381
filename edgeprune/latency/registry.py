"""The local device registry: devices a user has set up, by name, so that
`edgeprune search --device jetson` means "the server at the address I gave, with its token
file, measuring as profile jetson-orin-nano says".

    edgeprune device add jetson http://192.168.1.42:8650 --token-file ~/jetson.token \
        --profile jetson-orin-nano
    edgeprune device list
    edgeprune device check jetson

One YAML file, devices.yaml in the config folder ($EDGEPRUNE_CONFIG_DIR, else
$XDG_CONFIG_HOME/edgeprune, else ~/.config/edgeprune), written atomically and readable by its
owner only. It holds addresses and token file paths, never tokens. Adding a device contacts
nothing; only `device check` and the commands that measure talk to the address given.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError
from edgeprune.latency.tokens import config_dir

REGISTRY_FILE = "devices.yaml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class RegisteredDevice:
    """A named device server: where it is, where its token is, how it measures."""

    name: str
    url: str
    profile: str | None = None  # a profile name or .yaml path (backend, precision, input
    # size, budget); None: whatever the server measures with, at the model's own size
    token_file: str | None = None


def registry_path() -> Path:
    return config_dir() / REGISTRY_FILE


def load_registry(path: Path | None = None) -> dict[str, RegisteredDevice]:
    """The registered devices by name ({} when there is no registry yet)."""
    path = path or registry_path()
    if not path.exists():
        return {}
    from edgeprune.latency.profiles.fields import read_yaml_fields

    data, lines = read_yaml_fields(path, "device registry")
    devices = (data or {}).get("devices") if isinstance(data, dict) else None
    if data is not None and not isinstance(devices, dict):
        raise EdgepruneError(f"{path}: expected a 'devices:' mapping of names (edgeprune device "
                             f"add writes it)")
    registered = {}
    for name, entry in (devices or {}).items():
        if not isinstance(entry, dict) or "url" not in entry or \
                not set(entry) <= {"url", "profile", "token_file"}:
            raise EdgepruneError(f"{path}: device {name!r}: expected url, and optionally "
                                 f"profile and token_file")
        registered[str(name)] = RegisteredDevice(name=str(name), **{
            k: (str(v) if v is not None else None) for k, v in entry.items()})
    return registered


def save_registry(devices: dict[str, RegisteredDevice], path: Path | None = None) -> Path:
    path = path or registry_path()
    body = {"devices": {name: {k: v for k, v in asdict(device).items()
                               if k != "name" and v is not None}
                        for name, device in sorted(devices.items())}}
    atomic_write_text(path, "# edgeprune device registry (edgeprune device add/remove)\n" +
                      yaml.safe_dump(body, sort_keys=False), private=True)
    return path


def add_device(name: str, url: str, profile: str | None, token_file: str | None,
               replace: bool = False) -> RegisteredDevice:
    """Check and register a device (its address is not contacted)."""
    from edgeprune.latency.client import normalize_url
    from edgeprune.latency.profiles.device import resolve_profile
    from edgeprune.latency.tokens import read_token_file

    if not NAME_PATTERN.match(name) or name.startswith("http"):
        raise EdgepruneError(f"device name {name!r}: use letters, digits, '.', '_' and '-' "
                             f"(at most 64, not starting with 'http')")
    devices = load_registry()
    if name in devices and not replace:
        raise EdgepruneError(f"device {name!r} is already registered (at "
                             f"{devices[name].url}); add --replace to change it")
    if profile is not None:
        resolve_profile(profile, registered=False)  # it exists and is valid
    if token_file is not None:
        token_file = str(Path(token_file).expanduser().resolve())
        read_token_file(token_file)  # readable and not empty, now rather than mid-search
    stored_profile = (str(Path(profile).resolve())
                      if profile and profile.endswith((".yaml", ".yml")) else profile)
    device = RegisteredDevice(name=name, url=normalize_url(url), profile=stored_profile,
                              token_file=token_file)
    devices[name] = device
    save_registry(devices)
    return device


def remove_device(name: str) -> RegisteredDevice:
    devices = load_registry()
    if name not in devices:
        raise EdgepruneError(f"no registered device {name!r} (edgeprune device list)")
    removed = devices.pop(name)
    save_registry(devices)
    return removed


def find_registered(name: str) -> RegisteredDevice | None:
    return load_registry().get(name)
