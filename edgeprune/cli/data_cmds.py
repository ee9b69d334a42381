"""`edgeprune data`: check a dataset, generate a synthetic one."""

from __future__ import annotations

import time

import click

from edgeprune.cli.app import stderr, stdout


@click.group()
def data() -> None:
    """Dataset tools: `check` a dataset, `synth` a generated RoboMaster-like one."""


def _parse_size(ctx, param, value: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 640x480, got {value!r}") \
            from None
    if width < 64 or height < 64:
        raise click.BadParameter(f"at least 64x64, got {value}")
    return width, height


@data.command()
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder to write (images/, labels/, data.yaml, synth.json).")
@click.option("--domain", type=click.Choice(["sim", "real"]), default="sim", show_default=True,
              help="sim: clean renders (PNG). real: the same scenes through a camera: exposure, "
              "white balance, blur, noise, vignetting, JPEG.")
@click.option("--images", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Number of images (train + val).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Same seed, same bytes; sim and real with one seed show the same scenes.")
@click.option("--size", default="640x480", show_default=True, callback=_parse_size,
              help="Image size WIDTHxHEIGHT.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2,
              show_default=True, help="Share of images in the val split (the last ones).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes; 0 = one per CPU core (at most 8). Output does not depend on it.")
@click.option("--force", is_flag=True, help="Replace a generated dataset already in --out.")
def synth(out: str, domain: str, images: int, seed: int, size: tuple[int, int],
          val_fraction: float, workers: int, force: bool) -> None:
    """Generate a RoboMaster-like detection dataset in the YOLO layout.

    An arena (floor, walls, obstacles) with robots (chassis, wheels, turret) in red, blue or
    grey (dead) and armor plates with light bars and numbers, at varied pose, scale, occlusion
    and count. Classes: red_armor, red_robot, blue_robot, dead_robot, blue_armor. Labels are the
    visible extent of each object. Train with `--data OUT/data.yaml`.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from edgeprune.data.synth import default_workers, generate_dataset

    workers = workers or default_workers()
    started = time.perf_counter()
    columns = (TextColumn("[bold]synth {task.fields[domain]}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task("synth", total=images, domain=domain, rate="")

        def advance(done: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, completed=done, rate=f"{rate:.0f} img/s")

        result = generate_dataset(out, domain=domain, images=images, seed=seed, size=size,
                                  val_fraction=val_fraction, workers=workers, force=force,
                                  progress=advance)
    seconds = time.perf_counter() - started
    table = Table(title=f"data synth: {result.out}", title_justify="left")
    table.add_column("class")
    table.add_column("boxes", justify="right")
    for name, count in result.boxes.items():
        table.add_row(name, f"{count:,}")
    stdout.print(table)
    stdout.print(f"{domain} {size[0]}x{size[1]}, seed {seed}: {result.splits['train']} train + "
                 f"{result.splits['val']} val images in {seconds:.1f} s "
                 f"({images / seconds:.0f} images/s, {workers} worker"
                 f"{'s' if workers > 1 else ''})")
    stdout.print(f"dataset YAML: {result.yaml_path}")
