"""`edgeprune device add|list|check|remove`: the local registry of device servers, so
`--device NAME` works wherever a latency target is asked for (latency, search, scratch).
`device serve` and `device info` (the server itself) are in server_cmds.py."""

from __future__ import annotations

import click

from edgeprune.cli.terminal import stdout
from edgeprune.console import escape
from edgeprune.latency.tokens import TOKEN_ENV


@click.group()
def device() -> None:
    """Device servers: run one (serve), ask one (info), and name them for --device (add,
    list, check, remove): a name for a server's address, token file and profile.

    \b
    edgeprune device serve --backend tensorrt --host 0.0.0.0   # on the robot
    edgeprune device add jetson http://192.168.1.42:8650 --token-file ~/jetson.token \\
        --profile jetson-orin-nano
    edgeprune device check jetson
    edgeprune search --data d.yaml --weights base.pt --device jetson --target-latency 8ms
    """


@device.command()
@click.argument("name")
@click.argument("url")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="File holding the server's token (the registry stores its path, not the "
              "token). Without it the token comes from --token or EDGEPRUNE_SERVER_TOKEN.")
@click.option("--profile", help="Device profile (name or .yaml) saying how the server "
              "measures: backend (checked against the server's), precision, input size, "
              "latency budget. Default: whatever the server measures with, fp32, the model's "
              "own input size.")
@click.option("--replace", is_flag=True, help="Replace a device already registered as NAME.")
def add(name, url, token_file, profile, replace) -> None:
    """Register the server at URL (http://HOST:PORT) as NAME. Nothing is contacted; `device
    check NAME` does that."""
    from edgeprune.latency.registry import add_device, registry_path

    registered = add_device(name, url, profile, token_file, replace=replace)
    stdout.print(f"registered {escape(registered.name)}: {escape(registered.url)}, profile "
                 f"{escape(registered.profile or '(none)')} (in {escape(registry_path())})",
                 highlight=False)


@device.command(name="list")
def list_devices() -> None:
    """The registered devices."""
    from rich.table import Table

    from edgeprune.latency.registry import load_registry, registry_path

    devices = load_registry()
    if not devices:
        stdout.print(f"no registered devices (none in {escape(registry_path())}); add one with "
                     f"`edgeprune device add NAME http://HOST:PORT --token-file F --profile P`",
                     highlight=False)
        return
    table = Table(title=escape(registry_path()), title_justify="left")
    for column in ("name", "address", "profile", "token file"):
        table.add_column(column)
    for entry in devices.values():
        table.add_row(escape(entry.name), escape(entry.url), escape(entry.profile or "-"),
                      escape(entry.token_file or "(--token or EDGEPRUNE_SERVER_TOKEN)"))
    stdout.print(table)


@device.command()
@click.argument("name")
@click.option("--token", envvar=TOKEN_ENV, show_envvar=True,
              help="The token, when the device has no token file registered.")
def check(name, token) -> None:
    """Ask the registered device NAME what it is: reachable, the backend its profile expects,
    the device identity its results will carry."""
    from edgeprune.cli.tables import info_table
    from edgeprune.errors import EdgepruneError
    from edgeprune.latency.backends import create_backend
    from edgeprune.latency.profiles import resolve_profile
    from edgeprune.latency.registry import find_registered

    if find_registered(name) is None:
        raise EdgepruneError(f"no registered device {name!r} (edgeprune device list)")
    profile = resolve_profile(name)
    expect = None if profile.backend == "remote" else profile.backend
    backend = create_backend("remote", url=profile.server, token=token,
                             token_file=profile.token_file, expect_backend=expect,
                             timeout_s=10, retries=1)
    try:
        answer = backend.server_info()
        identity = backend.identity().describe()
    finally:
        backend.close()
    stdout.print(info_table(f"{name}: {profile.server}", answer))
    stdout.print(f"[green]ok[/]: {escape(name)} answers at {escape(profile.server)} and "
                 f"measures with {escape(answer['backend'])} on {escape(identity)}"
                 + (f" as profile {escape(profile.name)} expects" if expect else ""),
                 highlight=False)


@device.command()
@click.argument("name")
def remove(name) -> None:
    """Forget the registered device NAME."""
    from edgeprune.latency.registry import remove_device

    removed = remove_device(name)
    stdout.print(f"removed {escape(removed.name)} ({escape(removed.url)})", highlight=False)
