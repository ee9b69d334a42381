"""Old command-line spellings kept for one release: every alias is a hidden option (or group)
made here, so they all warn alike (edgeprune.deprecation) and hand their value to the new one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from edgeprune.deprecation import warn_deprecated

GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def deprecated_alias(old: str, new: str, *, check: Callable[[Any], Any] | None = None,
                     **option_kwargs) -> Callable:
    """Decorator: the option spelling `old` of the last release, hidden, handing its value to
    the option `new` with a warning on stderr.

    `check(value)` converts what the old spelling meant, or raises click.BadParameter for what
    the new option does not take (e.g. `--device jetson` where --device used to be torch's
    device). Giving both spellings is an error rather than a silent choice.
    """
    target = new.lstrip("-").replace("-", "_")
    hidden = "deprecated_" + old.lstrip("-").replace("-", "_")

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            value = kwargs.pop(hidden)
            ctx = click.get_current_context()
            if ctx.get_parameter_source(hidden) in GIVEN:
                if ctx.get_parameter_source(target) in GIVEN:
                    raise click.UsageError(f"give {new} only ({old} is its old spelling)")
                warn_deprecated(old, new, f"edgeprune {ctx.command_path.split(' ', 1)[-1]}")
                kwargs[target] = check(value) if check else value
            return func(*args, **kwargs)

        # click collects options on the function object; functools.wraps shares that list, so
        # the options declared above and below this decorator all reach the command
        return click.option(old, hidden, hidden=True, **option_kwargs)(wrapper)

    return decorate


def deprecated_group(name: str, replacement: click.Group,
                     commands: tuple[click.Command, ...]) -> click.Group:
    """A hidden group `name` running `commands` (those of `replacement` now) after a warning."""

    @click.group(name=name, hidden=True, help=f"Deprecated: use `edgeprune "
                 f"{replacement.name}`.")
    def group() -> None:
        ctx = click.get_current_context()
        sub = f" {ctx.invoked_subcommand}" if ctx.invoked_subcommand else ""
        warn_deprecated(f"`edgeprune {name}{sub}`", f"`edgeprune {replacement.name}{sub}`")

    for command in commands:
        group.add_command(command)
    return group


TORCH_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "auto")


def torch_device(value: str | None) -> str | None:
    """`value` when it names a torch device (cpu, cuda, cuda:N ...): what `--device` meant in
    the training and detection verbs before it meant the latency target everywhere."""
    if value is None:
        return None
    kind, _, index = value.partition(":")
    if kind in TORCH_DEVICE_TYPES and (not index or index.isdigit()):
        return value
    raise click.BadParameter(f"{value!r} is not a torch device (cpu, cuda, cuda:N); this "
                             f"verb measures no latency, and its torch device is "
                             f"--torch-device", param_hint="--device")


def torch_device_alias(func: Callable) -> Callable:
    """The old `--device cpu|cuda|cuda:N` of a verb whose torch device is --torch-device."""
    return deprecated_alias("--device", "--torch-device", check=torch_device)(func)
