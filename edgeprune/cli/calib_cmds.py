"""`edgeprune calib make`: an INT8 calibration set in calib/NAME."""

from __future__ import annotations

import click

from edgeprune.cli.options import imgsz_option
from edgeprune.cli.terminal import stdout
from edgeprune.console import escape


@click.group()
def calib() -> None:
    """INT8 calibration sets for TensorRT engines (calib/README.md)."""


@calib.command()
@click.option("--data", required=True, help="Dataset YAML (or folder / Darknet .data) to pick "
              "the images from.")
@click.option("--split", default="train", show_default=True,
              type=click.Choice(["train", "val", "test"]),
              help="Split to pick from (not the one you report accuracy on).")
@click.option("--images", "count", type=click.IntRange(min=1), default=500, show_default=True,
              help="Images in the set (all usable ones when the split has fewer).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="The set's folder, e.g. calib/arena.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Same data and seed, same set.")
@imgsz_option("Only for models of this input size (N or WIDTHxHEIGHT). "
              "Default: any; batches are made at the model's own size.")
@click.option("--copy", is_flag=True, help="Copy the images into OUTPUT/images so the folder "
              "can be carried to the robot (images.txt lists them relative to it).")
@click.option("--force", is_flag=True, help="Replace a set already in OUTPUT (its calibration "
              "caches are removed: they belong to the old images).")
def make(data, split, count, output, seed, imgsz, copy, force) -> None:
    """Pick a representative, class-balanced image set for INT8 calibration.

    A greedy cover first takes images until every class appears in its share of the set
    (rare classes first), then seeded random images of the split fill the rest. Writes
    OUTPUT/images.txt and OUTPUT/calib.yaml (source, seed, per-class counts and the
    pre-processing: the Detector's letterbox, RGB, [0, 1]). Use it with
    `edgeprune export --format engine --int8 --calib OUTPUT`.

    \b
    edgeprune calib make --data robomaster.yaml --images 500 -o calib/arena
    """
    from rich.table import Table

    from edgeprune.calib import make_calib_set

    made = make_calib_set(data, output, count, split=split, seed=seed, imgsz=imgsz, copy=copy,
                          force=force)
    calib_set, selection = made.calib, made.selection
    table = Table(title=f"calib make: {escape(calib_set.folder)}", title_justify="left")
    table.add_column("class")
    table.add_column("images in the set", justify="right")
    for name, images in zip(made.names, selection.images_per_class, strict=True):
        table.add_row(escape(name), str(images))
    stdout.print(table)
    stdout.print(f"{len(calib_set)} of {made.available} usable {split} images "
                 f"({selection.cover_count} chosen to cover the classes, quota "
                 f"{selection.quota} per class; the rest random, seed {seed}); "
                 f"files: {calib_set.folder}/images.txt, calib.yaml", highlight=False)
