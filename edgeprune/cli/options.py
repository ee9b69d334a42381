"""Options several verbs share, declared once so they read and behave the same everywhere."""

from __future__ import annotations

import functools

import click


def model_source_options(func):
    """--weights / --cfg / --names / --classes / --width: everything `load_model` accepts."""

    @click.option("--weights", "-w", help="Checkpoint (.pt), Darknet .weights (with --cfg) or a "
                  "built-in model name (yolov3, yolov3-tiny, yolov3-spp).")
    @click.option("--cfg", type=click.Path(dir_okay=False), help="Darknet .cfg of the model.")
    @click.option("--names", type=click.Path(dir_okay=False),
                  help="Class names file, one a line (for Darknet and built-in models).")
    @click.option("--classes", type=click.IntRange(min=1), help="Class count of a built-in model.")
    @click.option("--width", type=click.FloatRange(0, 4, min_open=True), default=1.0,
                  show_default=True, help="Width multiplier of a built-in model.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def load_model_from_options(weights, cfg, names, classes, width, imgsz=None):
    from edgeprune.models import load_model, read_names

    return load_model(weights, cfg, names=read_names(names) if names else None,
                      num_classes=classes, width=width, imgsz=imgsz)


imgsz_option = click.option(
    "--imgsz", help="Input size: N for NxN or WIDTHxHEIGHT (multiples of 32). "
    "Default: the model's own.")
