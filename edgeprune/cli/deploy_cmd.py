"""`edgeprune deploy --robot NAME`: the commands and files that run a robot's detector."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.command()
@click.option("--robot", help="Robot profile: a name in robots/ (robots/README.md) or a .yaml "
              "path. Without it, the robot profiles found are listed.")
@click.option("--write", "write_dir", type=click.Path(file_okay=False),
              help="Write the files (params YAML, run-native.sh, docker-run.sh, systemd unit) "
              "into this folder instead of only printing them.")
def deploy(robot: str | None, write_dir: str | None) -> None:
    """Print (or write) how to run a robot's detector: engine build, launch, container, unit.

    \b
    edgeprune deploy                                   # list robot profiles
    edgeprune deploy --robot robomaster-infantry
    edgeprune deploy --robot robots/my-robot.yaml --write deploy-out/
    """
    import shlex

    from rich.table import Table

    from edgeprune.deploy.files import (
        build_command,
        deployment_files,
        docker_run_command,
        launch_command,
        params_path,
    )
    from edgeprune.latency.profiles.robot import load_robot

    if robot is None:
        _list_robots()
        return
    profile = load_robot(robot)
    table = Table(title=f"robot {profile.name} ({profile.source})", show_header=False,
                  title_justify="left")
    device = profile.device_profile
    table.add_row("device", f"{device.name} ({device.source})")
    table.add_row("runs", f"{profile.run_path} ({profile.runtime}, {profile.precision})")
    if profile.runtime == "tensorrt":
        table.add_row("built from", profile.model_path)
    if profile.imgsz:
        table.add_row("input", f"{profile.imgsz[1]}x{profile.imgsz[0]}")
    camera = f" ({profile.camera[0]}x{profile.camera[1]})" if profile.camera else ""
    table.add_row("camera", f"{profile.camera_topic}{camera}")
    table.add_row("budget", f"{profile.latency_budget_ms:g} ms" if profile.latency_budget_ms
                  else "none")
    table.add_row("params", params_path(profile))
    stdout.print(table)
    steps = []
    build = build_command(profile)
    if build:
        steps.append(("build the engine on the robot (kept when current)", shlex.join(build)))
    steps.append(("run the node", shlex.join(launch_command(profile))))
    steps.append(("or run the container", shlex.join(docker_run_command(profile))))
    steps.append(("check the budget (from the workstation)",
                  f"edgeprune latency MODEL --device {profile.name}"))
    for title, command in steps:
        stdout.print(f"[bold]# {escape(title)}[/]")
        stdout.print(command, highlight=False, markup=False)
    files = deployment_files(profile)
    if write_dir is None:
        stdout.print(f"[dim]`--write DIR` writes {escape(', '.join(files))}; copy "
                     f"{escape(profile.name)}.params.yaml to {escape(profile.models_dir)} on "
                     f"the robot[/]")
        return
    from edgeprune.atomic import atomic_write_text

    folder = Path(write_dir)
    for name, text in files.items():
        atomic_write_text(folder / name, text)
        if name.endswith(".sh"):
            (folder / name).chmod(0o755)
    stdout.print(f"wrote {escape(', '.join(str(folder / n) for n in files))}", highlight=False)


def _list_robots() -> None:
    import yaml
    from rich.table import Table

    from edgeprune.latency.profiles import profile_search_path

    table = Table(title="robot profiles (edgeprune deploy --robot NAME)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("device", no_wrap=True)
    table.add_column("description")
    table.add_column("file", overflow="fold")
    seen = set()
    for folder in profile_search_path():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(data, dict) and "device" in data and path.stem not in seen:
                seen.add(path.stem)
                table.add_row(escape(path.stem), escape(data.get("device")),
                              escape(data.get("description", "")), escape(path))
    stdout.print(table if seen else "no robot profiles found (robots/README.md explains them)")
