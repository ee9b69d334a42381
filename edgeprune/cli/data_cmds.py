"""`edgeprune data`: check a dataset, generate a synthetic one."""

from __future__ import annotations

import time

import click

from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.cli.terminal import stderr, stdout
from edgeprune.console import escape


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
@click.option("--processes", type=click.IntRange(min=0), default=0, show_default=True,
              help="Generator processes; 0 = one per CPU core (at most 8). Output does not "
              "depend on it.")
@deprecated_alias("--workers", "--processes", type=click.IntRange(min=0))
@click.option("--force", is_flag=True, help="Replace a generated dataset already in --out.")
def synth(out: str, domain: str, images: int, seed: int, size: tuple[int, int],
          val_fraction: float, processes: int, force: bool) -> None:
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

    workers = processes or default_workers()
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
    table = Table(title=f"data synth: {escape(result.out)}", title_justify="left")
    table.add_column("class")
    table.add_column("boxes", justify="right")
    for name, count in result.boxes.items():
        table.add_row(name, f"{count:,}")
    stdout.print(table)
    stdout.print(f"{domain} {size[0]}x{size[1]}, seed {seed}: {result.splits['train']} train + "
                 f"{result.splits['val']} val images in {seconds:.1f} s "
                 f"({images / seconds:.0f} images/s, {workers} process"
                 f"{'es' if workers > 1 else ''})")
    stdout.print(f"dataset YAML: {escape(result.yaml_path)}", highlight=False)


@data.command()
@click.argument("data_path", metavar="DATA")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default="all",
              show_default=True, help="Split to check; all = every split DATA defines.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--headers-only", is_flag=True,
              help="Read image headers instead of decoding images: faster, but corrupt image "
              "data past the header goes unnoticed.")
@click.option("--decode-threads", type=click.IntRange(min=1), default=4, show_default=True,
              help="Threads decoding images.")
@deprecated_alias("--workers", "--decode-threads", type=click.IntRange(min=1))
@click.option("--show", type=click.IntRange(min=0), default=5, show_default=True,
              help="Problems listed per kind (all of them are in --json).")
def check(data_path: str, split: str, as_json: bool, headers_only: bool, decode_threads: int,
          show: int) -> None:
    """Check dataset DATA: images, boxes per class and every problem found.

    DATA is a dataset YAML (or a folder holding data.yaml) or a Darknet .data file. Reported:
    missing and unreadable images, bad label lines (file:line: class out of range,
    zero-area box, wrong column count, bad number), unknown classes, image sizes that disagree
    with the labels; and as warnings, which leave the data used as written: boxes outside the
    image (clipped), duplicate images and boxes, images shared between splits.

    \b
    Exit code:
      0  usable, no problem (warnings aside)
      1  not usable: a checked split cannot be read, or has no usable
         image or no labelled box
      2  usable, but problems leave images, label lines or boxes out of
         training and evaluation (val stops on them; train, finetune and
         search skip them, naming each: see their --bad-data)
    """
    import json
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from edgeprune.data.check import check_dataset

    splits = None if split == "all" else [split]
    columns = (TextColumn("[bold]check {task.fields[split]}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=stderr, transient=True, disable=as_json) as progress:
        task = progress.add_task("check", split="", total=None)

        def advance(name: str, done: int, total: int) -> None:
            progress.update(task, split=name, completed=done, total=total)

        report = check_dataset(data_path, splits, decode=not headers_only, workers=decode_threads,
                               progress=advance)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report, show)
    if not report.usable:
        sys.exit(1)
    if report.problem_count:
        sys.exit(2)


def _print_report(report, show: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    checked = [s for s in report.splits if s.error is None]
    names = ", ".join(report.names) if report.names else "?"
    formats = ", ".join(sorted({s.format for s in checked if s.format})) or "?"
    stdout.print(f"[bold]data check[/] {escape(report.source)}: format {formats}, "
                 f"{len(report.names)} classes ({escape(names)})", highlight=False)
    table = Table(title="images (empty: usable images without boxes)", title_justify="left",
                  box=None, padding=(0, 1), header_style="bold")
    for column in ("split", "listed", "usable", "missing", "unreadable", "empty", "boxes",
                   "ignored", "problems"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for s in checked:
        table.add_row(s.split, f"{s.listed:,}", f"{s.usable:,}", f"{s.missing:,}",
                      f"{s.unreadable:,}", f"{s.background:,}", f"{sum(s.boxes.values()):,}",
                      f"{s.ignore_boxes:,}",
                      # one meaning of "problem", as in the exit status and the summary line
                      # (warnings are listed below the table by kind)
                      f"{sum(not p.is_warning for p in s.problems):,}")
    if checked:
        stdout.print(table)
        per_class = Table(title="boxes per class", title_justify="left", box=None,
                          padding=(0, 1), header_style="bold")
        per_class.add_column("class")
        for s in checked:
            per_class.add_column(s.split, justify="right")
        for name in report.names:
            per_class.add_row(escape(name), *(f"{s.boxes.get(name, 0):,}" for s in checked))
        stdout.print(per_class)
    for s in checked:
        for kind, count in s.problem_counts().items():
            stdout.print(f"[yellow]{s.split}: {kind}[/] ({count:,})", highlight=False)
            examples = [p for p in s.problems if p.kind == kind][:show]
            for problem in examples:
                stdout.print(f"  {escape(str(problem))}", highlight=False)
            if count > len(examples):
                stdout.print(f"  [dim]... and {count - len(examples):,} more (--json lists "
                             f"all)[/]", highlight=False)
    for s in report.splits:
        reason = s.unusable_reason()
        if reason:
            stdout.print(f"[bold red]{s.split}:[/] {escape(reason)}", highlight=False)
    if not report.usable:
        return
    if report.problem_count:
        count = report.problem_count
        stdout.print(f"[bold yellow]usable, but {count:,} problem{'s' if count > 1 else ''} "
                     f"leave data out[/]: training and evaluation would run without the "
                     f"images, label lines and boxes named above (val stops on them unless "
                     f"--bad-data skip)", highlight=False)
    else:
        stdout.print("[bold green]usable[/]: every checked split has labelled images to train "
                     "or evaluate on")
