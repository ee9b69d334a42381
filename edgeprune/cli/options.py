"""Options several verbs share, declared once so they read and behave the same everywhere."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

from edgeprune.cli.deprecation import deprecated_alias
from edgeprune.latency.tokens import TOKEN_ENV


def check_out_or_name(out_dir: str | None) -> None:
    """Refuse --out with an explicit --name: --out names the run folder itself, so a --name
    beside it would be silently ignored (a user looking for runs/VERB/NAME finds nothing)."""
    context = click.get_current_context()
    source = context.get_parameter_source("name")
    if out_dir and source not in (click.core.ParameterSource.DEFAULT,
                                  click.core.ParameterSource.DEFAULT_MAP):
        raise click.UsageError("--out is the run folder itself and --name a folder under "
                               "runs/: give one of them")


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


class ImageSize(click.ParamType):
    """Input size as every verb takes it: N (NxN) or WIDTHxHEIGHT, multiples of 32, read by
    `parse_imgsz` into (height, width); `square` verbs (training) take N or NxN only and get N."""

    name = "N|WxH"

    def __init__(self, square: bool = False) -> None:
        self.square = square

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, int) and self.square):
            return value
        from edgeprune.errors import EdgepruneError
        from edgeprune.models.loading import parse_imgsz

        try:
            height, width = parse_imgsz(value)
        except EdgepruneError as exc:
            self.fail(str(exc), param, ctx)
        if not self.square:
            return height, width
        if height != width:
            self.fail(f"{width}x{height}: this verb trains on square inputs (N or NxN)",
                      param, ctx)
        return height


def imgsz_option(help: str = "Input size: N for NxN or WIDTHxHEIGHT (multiples of 32). "
                 "Default: the model's own.", *, square: bool = False, **kwargs) -> Callable:
    """--imgsz, one form everywhere: N or WIDTHxHEIGHT (N or NxN where training is square)."""
    return click.option("--imgsz", type=ImageSize(square), help=help, **kwargs)


def torch_device_option(help: str = "Torch device: cpu, cuda or cuda:N. Default: cuda if "
                        "present.") -> Callable:
    """--torch-device (and the old --device spelling of it, deprecated)."""
    from edgeprune.cli.deprecation import torch_device_alias

    def decorate(func: Callable) -> Callable:
        return click.option("--torch-device", help=help)(torch_device_alias(func))

    return decorate


def bad_data_option(default: str, why: str) -> Callable:
    """--bad-data stop|skip: what val, train, finetune and search do with data problems that
    would leave images, label lines or boxes out; `why` explains the verb's default."""
    return click.option(
        "--bad-data", type=click.Choice(["stop", "skip"]), default=default, show_default=True,
        help="Data problems that would leave images, label lines or boxes out (`edgeprune "
        "data check` lists them): stop with an error naming them, or skip them, naming the "
        f"first on the console and every one in data_problems.txt in the run folder. {why}")


def torch_threads_option(func: Callable) -> Callable:
    """--torch-threads (and the old --threads spelling of it, deprecated)."""
    from edgeprune.cli.deprecation import deprecated_alias

    func = deprecated_alias("--threads", "--torch-threads", type=click.IntRange(min=1))(func)
    return click.option("--torch-threads", type=click.IntRange(min=1), default=None,
                        help="CPU threads for torch. Default: one per core. On a CPU shared "
                        "with other busy processes, 1 can be several times faster (threads "
                        "wait on each other).")(func)


def parse_key_values(items: tuple[str, ...], option: str, *, typed: bool = True) -> dict:
    """KEY=VALUE items of a repeatable option, as a dict: values read as YAML scalars
    (`spread=0.2` a float) when `typed`, else the stripped text (the latency protocol converts
    its own fields, naming them)."""
    import yaml

    from edgeprune.errors import EdgepruneError

    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise EdgepruneError(f"{option} {item!r}: expected "
                                 f"{'KEY' if typed else 'FIELD'}=VALUE")
        if not typed:
            values[key.strip()] = text.strip()
            continue
        try:
            values[key.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            values[key.strip()] = text
    return values


DEVICE_HELP = ("Where latency is measured: a registered device (edgeprune device add), a profile "
               "name (robots/NAME.yaml), a profile .yaml, or a server address http://HOST:PORT.")


def device_options(func: Callable | None = None, *, no_cache: bool = True,
                   device_default: str = "cpu",
                   cache_help: str = "Latency cache file. Default: $EDGEPRUNE_LATENCY_CACHE or "
                   "~/.cache/edgeprune/latency.sqlite.") -> Callable:
    """--device and what shapes a measurement there (token, cache, precision, threads ...),
    with the spellings of the last release (--threads, --cache, --no-cache) as aliases; for
    every verb that measures latency (latency, latency lut, scratch, search). `no_cache`: offer
    --no-latency-cache (a search always caches, in its run folder by default)."""

    def decorate(func: Callable) -> Callable:
        options = [
            click.option("--device", "-d", default=device_default, show_default=True,
                         help=DEVICE_HELP),
            click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]),
                         help="Measured precision. Default: the profile's."),
            click.option("--ort-threads", type=click.IntRange(min=0),
                         help="ONNX Runtime intra-op threads of ort-cpu (0: one per CPU). "
                         "Default: the profile's."),
            click.option("--token", envvar=TOKEN_ENV, show_envvar=True,
                         help="Token of a device server (a registered device reads its token "
                         "file; never written to a run folder)."),
            click.option("--latency-cache", type=click.Path(dir_okay=False), help=cache_help),
            click.option("--protocol", "protocol_items", multiple=True, metavar="FIELD=VALUE",
                         help="Override a protocol field, e.g. --protocol max_runs=100 "
                         "(repeatable; docs/latency.md)."),
            deprecated_alias("--threads", "--ort-threads", type=click.IntRange(min=0)),
        ]
        if no_cache:
            options[5:5] = [click.option("--no-latency-cache", is_flag=True,
                                         help="Neither read nor write the latency cache.")]
            options += [
                deprecated_alias("--cache", "--latency-cache", type=click.Path(dir_okay=False)),
                deprecated_alias("--no-cache", "--no-latency-cache", is_flag=True)]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate(func) if func is not None else decorate


def open_meter(device, precision, ort_threads, token, latency_cache, no_latency_cache,
               protocol_items, imgsz=None):
    """The LatencyMeter that `device_options` describe."""
    from edgeprune.cli.options import parse_key_values
    from edgeprune.latency import resolve_device

    cache = False if no_latency_cache else (latency_cache or True)
    return resolve_device(device, token=token, cache=cache, precision=precision, imgsz=imgsz,
                          threads=ort_threads,
                          protocol=parse_key_values(protocol_items, "--protocol", typed=False))


RUNTIME_HELP = ("Inference runtime: auto (from the file: .pt/.weights torch, .onnx "
                "onnxruntime, .engine tensorrt), torch, onnxruntime, tensorrt.")
TORCH_DEVICE_HELP = ("Device of the torch and onnxruntime runtimes: cpu, cuda or cuda:N. "
                     "Default: cuda if present.")


def runtime_options(runtime_help: str = RUNTIME_HELP) -> Callable:
    """--runtime and --torch-device, with --backend and --device of the last release as
    deprecated aliases (backend is the latency word; --device is the latency target)."""

    def decorate(func: Callable) -> Callable:
        func = deprecated_alias("--backend", "--runtime")(func)
        func = torch_device_option(TORCH_DEVICE_HELP)(func)
        return click.option("--runtime", default="auto", show_default=True,
                            help=runtime_help)(func)

    return decorate


def detector_options(func):
    """--weights/--cfg/--names/--imgsz/--runtime/--torch-device: what every Detector verb
    takes."""
    func = runtime_options()(func)
    options = [
        click.option("--weights", "-w", required=True, help="Checkpoint (.pt), ONNX (.onnx) or "
                     "Darknet .weights (with --cfg)."),
        click.option("--cfg", type=click.Path(dir_okay=False),
                     help="Darknet .cfg that goes with .weights."),
        click.option("--names", "names_file", type=click.Path(dir_okay=False),
                     help="Class names file, one a line (Darknet models carry none)."),
        imgsz_option(),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_detector(weights, cfg, names_file, imgsz, runtime, torch_device, **thresholds):
    from edgeprune.models.loading import read_names
    from edgeprune.runtime.detector import Detector

    names = read_names(names_file) if names_file else None
    return Detector(weights, runtime=runtime, imgsz=imgsz, names=names, device=torch_device,
                    cfg=cfg, **thresholds)
