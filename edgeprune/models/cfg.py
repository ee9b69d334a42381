"""Darknet .cfg files as typed layer records: parse and validate (cfg_writer.py writes them
back).

The cfg graph is edgeprune's model IR (docs/design.md). A `DarknetCfg` is the `[net]` section plus a
list of layer records in file order; layer i of the list is layer i of Darknet's numbering, so
route and shortcut references mean the same thing here as in Darknet. References are kept as
written (relative or absolute) so that `parse(write(cfg)) == cfg` and written files look like the
ones users already have; `source_indices` resolves them.

Keys that only matter to Darknet's trainer (jitter, ignore_thresh, learning_rate, ...) are kept
verbatim in `extra` so a file read and written again loses nothing. Keys that would change the
arithmetic and that edgeprune does not implement are rejected with the file and line, rather
than silently producing a different network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edgeprune.errors import CfgError

ACTIVATIONS = ("leaky", "linear", "relu", "mish", "swish", "logistic")

Extra = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class NetSection:
    width: int = 416
    height: int = 416
    channels: int = 3
    extra: Extra = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ConvLayer:
    filters: int = 1
    size: int = 1
    stride: int = 1
    pad: bool = False
    padding: int | None = None  # explicit padding; Darknet uses size // 2 when pad=1
    batch_normalize: bool = False
    activation: str = "logistic"
    groups: int = 1
    extra: Extra = ()
    line: int = field(default=0, compare=False)

    @property
    def padding_pixels(self) -> int:
        if self.pad:
            return self.size // 2
        return self.padding or 0


@dataclass(frozen=True)
class ShortcutLayer:
    from_: int = -3  # written as `from=`
    activation: str = "linear"
    extra: Extra = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class RouteLayer:
    layers: tuple[int, ...] = ()
    groups: int = 1
    group_id: int = 0
    extra: Extra = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class UpsampleLayer:
    stride: int = 2
    extra: Extra = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class MaxpoolLayer:
    size: int = 2
    stride: int = 2
    padding: int | None = None  # Darknet's default is size - 1 (split left/top and right/bottom)
    extra: Extra = ()
    line: int = field(default=0, compare=False)

    @property
    def total_padding(self) -> int:
        return self.size - 1 if self.padding is None else self.padding


@dataclass(frozen=True)
class YoloLayer:
    mask: tuple[int, ...] = ()
    anchors: tuple[tuple[float, float], ...] = ()
    classes: int = 20
    num: int = 1
    scale_x_y: float = 1.0
    extra: Extra = ()
    line: int = field(default=0, compare=False)

    @property
    def masked_anchors(self) -> tuple[tuple[float, float], ...]:
        return tuple(self.anchors[m] for m in self.mask)


Layer = ConvLayer | ShortcutLayer | RouteLayer | UpsampleLayer | MaxpoolLayer | YoloLayer


@dataclass(frozen=True)
class DarknetCfg:
    net: NetSection
    layers: tuple[Layer, ...]
    source: str = field(default="<cfg>", compare=False)

    def source_indices(self, index: int) -> tuple[int, ...]:
        """Absolute indices of the layers whose outputs layer `index` reads."""
        layer = self.layers[index]
        if isinstance(layer, ShortcutLayer):
            return (index - 1, absolute_index(index, layer.from_))
        if isinstance(layer, RouteLayer):
            return tuple(absolute_index(index, ref) for ref in layer.layers)
        return (index - 1,) if index > 0 else ()

    @property
    def yolo_indices(self) -> tuple[int, ...]:
        return tuple(i for i, layer in enumerate(self.layers) if isinstance(layer, YoloLayer))

    @property
    def num_classes(self) -> int:
        heads = [self.layers[i] for i in self.yolo_indices]
        return heads[0].classes if heads else 0

    def replace(self, **changes) -> DarknetCfg:
        return dataclasses.replace(self, **changes)


def absolute_index(index: int, ref: int) -> int:
    """Darknet's rule: negative references count back from the referring layer."""
    return index + ref if ref < 0 else ref


# ----------------------------------------------------------------------------------- parsing

# Keys Darknet's trainer reads that do not change inference; kept verbatim in `extra`.
_CONV_TRAINING_KEYS = {"stopbackward", "dontload", "dontloadscales", "train", "learning_rate"}
_ROUTE_TRAINING_KEYS = {"stopbackward"}
# Keys that change the network's arithmetic in ways edgeprune does not implement.
_UNSUPPORTED = {
    "convolutional": {"dilation": "1", "binary": "0", "xnor": "0", "antialiasing": "0",
                      "share_index": None, "stride_x": None, "stride_y": None,
                      "deform": "0", "sway": "0", "rotate": "0", "stretch": "0"},
    "shortcut": {"weights_type": "none", "weights_normalization": "none"},
    "upsample": {"scale": "1"},
    "maxpool": {"stride_x": None, "stride_y": None, "maxpool_depth": "0", "antialiasing": "0"},
    "yolo": {"new_coords": "0"},
}
_SECTION_ALIASES = {"net": "net", "network": "net", "convolutional": "convolutional",
                    "conv": "convolutional", "shortcut": "shortcut", "route": "route",
                    "upsample": "upsample", "maxpool": "maxpool", "max": "maxpool",
                    "yolo": "yolo"}


@dataclass
class _RawSection:
    name: str
    line: int
    items: list[tuple[str, str, int]]  # key, value, line


def _read_sections(text: str, source: str) -> list[_RawSection]:
    sections: list[_RawSection] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise CfgError(source, number, f"section header {line!r} is missing its ']'")
            name = line[1:-1].strip().lower()
            if name not in _SECTION_ALIASES:
                known = ", ".join(sorted(set(_SECTION_ALIASES.values())))
                raise CfgError(source, number, f"unknown section [{name}] (known: {known})")
            sections.append(_RawSection(_SECTION_ALIASES[name], number, []))
            continue
        if "=" not in line:
            raise CfgError(source, number, f"expected 'key=value', got {line!r}")
        if not sections:
            raise CfgError(source, number, "a key=value line comes before any [section]")
        key, value = (part.strip() for part in line.split("=", 1))
        if not key:
            raise CfgError(source, number, f"missing key in {line!r}")
        sections[-1].items.append((key, value, number))
    return sections


class _SectionReader:
    """Typed access to one section's keys; anything left unread is an error or an extra."""

    def __init__(self, section: _RawSection, source: str) -> None:
        self.section = section
        self.source = source
        self.values: dict[str, tuple[str, int]] = {}
        for key, value, line in section.items:
            if key in self.values:
                raise CfgError(source, line, f"key {key!r} given twice in [{section.name}]")
            self.values[key] = (value, line)
        self.used: set[str] = set()

    def _get(self, key: str, convert: Callable[[str], object], kind: str, default):
        if key not in self.values:
            return default
        self.used.add(key)
        value, line = self.values[key]
        try:
            return convert(value)
        except ValueError:
            raise CfgError(self.source, line,
                           f"{key}: expected {kind}, got {value!r}") from None

    def int(self, key: str, default: int | None, minimum: int | None = None) -> int | None:
        value = self._get(key, int, "an integer", default)
        if value is not None and minimum is not None and value < minimum:
            raise CfgError(self.source, self.values[key][1],
                           f"{key}: must be at least {minimum}, got {value}")
        return value

    def float(self, key: str, default: float) -> float:
        return self._get(key, float, "a number", default)

    def ints(self, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        return self._get(key, _int_list, "a comma-separated list of integers", default)

    def floats(self, key: str, default: tuple[float, ...]) -> tuple[float, ...]:
        return self._get(key, _float_list, "a comma-separated list of numbers", default)

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        value = self._get(key, str, "a word", default)
        choices = tuple(choices)
        if value not in choices:
            raise CfgError(self.source, self.values[key][1],
                           f"{key}: unknown value {value!r} (expected one of {', '.join(choices)})")
        return value

    def line_of(self, key: str) -> int:
        return self.values[key][1] if key in self.values else self.section.line

    def rest(self, allowed_extras: set[str] | None) -> Extra:
        """Unread keys: extras to keep, or an error for keys that would change the network."""
        unsupported = _UNSUPPORTED.get(self.section.name, {})
        extras = []
        for key, (value, line) in self.values.items():
            if key in self.used:
                continue
            if key in unsupported:
                neutral = unsupported[key]
                if neutral is not None and value == neutral:
                    extras.append((key, value))
                    continue
                raise CfgError(self.source, line,
                               f"[{self.section.name}] {key}={value} is not supported by edgeprune")
            if allowed_extras is not None and key not in allowed_extras:
                raise CfgError(self.source, line,
                               f"unknown key {key!r} in [{self.section.name}]")
            extras.append((key, value))
        return tuple(extras)


def _int_list(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(text)
    return tuple(int(p) for p in parts)


def _float_list(text: str) -> tuple[float, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(text)
    return tuple(float(p) for p in parts)


def _parse_net(reader: _SectionReader) -> NetSection:
    return NetSection(width=reader.int("width", 416, 1), height=reader.int("height", 416, 1),
                      channels=reader.int("channels", 3, 1), extra=reader.rest(None),
                      line=reader.section.line)


def _parse_conv(reader: _SectionReader) -> ConvLayer:
    padding = reader.int("padding", None, 0)
    return ConvLayer(
        filters=reader.int("filters", 1, 1), size=reader.int("size", 1, 1),
        stride=reader.int("stride", 1, 1), pad=bool(reader.int("pad", 0, 0)), padding=padding,
        batch_normalize=bool(reader.int("batch_normalize", 0, 0)),
        activation=reader.choice("activation", "logistic", ACTIVATIONS),
        groups=reader.int("groups", 1, 1), extra=reader.rest(_CONV_TRAINING_KEYS),
        line=reader.section.line)


def _parse_shortcut(reader: _SectionReader) -> ShortcutLayer:
    if "from" not in reader.values:
        raise CfgError(reader.source, reader.section.line, "[shortcut] needs a 'from=' key")
    return ShortcutLayer(from_=reader.int("from", -3),
                         activation=reader.choice("activation", "linear", ACTIVATIONS),
                         extra=reader.rest(set()), line=reader.section.line)


def _parse_route(reader: _SectionReader) -> RouteLayer:
    if "layers" not in reader.values:
        raise CfgError(reader.source, reader.section.line, "[route] needs a 'layers=' key")
    groups = reader.int("groups", 1, 1)
    group_id = reader.int("group_id", 0, 0)
    if group_id >= groups:
        raise CfgError(reader.source, reader.line_of("group_id"),
                       f"group_id={group_id} must be less than groups={groups}")
    return RouteLayer(layers=reader.ints("layers", ()), groups=groups, group_id=group_id,
                      extra=reader.rest(_ROUTE_TRAINING_KEYS), line=reader.section.line)


def _parse_upsample(reader: _SectionReader) -> UpsampleLayer:
    return UpsampleLayer(stride=reader.int("stride", 2, 1), extra=reader.rest(set()),
                         line=reader.section.line)


def _parse_maxpool(reader: _SectionReader) -> MaxpoolLayer:
    size = reader.int("size", None, 1)
    stride = reader.int("stride", 1, 1)
    return MaxpoolLayer(size=stride if size is None else size, stride=stride,
                        padding=reader.int("padding", None, 0), extra=reader.rest(set()),
                        line=reader.section.line)


def _parse_yolo(reader: _SectionReader) -> YoloLayer:
    num = reader.int("num", 1, 1)
    classes = reader.int("classes", 20, 1)
    mask = reader.ints("mask", tuple(range(num)))
    flat = reader.floats("anchors", ())
    if len(flat) != 2 * num:
        raise CfgError(reader.source, reader.line_of("anchors"),
                       f"anchors: expected {2 * num} numbers for num={num}, got {len(flat)}")
    for m in mask:
        if not 0 <= m < num:
            raise CfgError(reader.source, reader.line_of("mask"),
                           f"mask: index {m} is outside the {num} anchors")
    anchors = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(num))
    return YoloLayer(mask=mask, anchors=anchors, classes=classes, num=num,
                     scale_x_y=reader.float("scale_x_y", 1.0), extra=reader.rest(None),
                     line=reader.section.line)


_LAYER_PARSERS = {"convolutional": _parse_conv, "shortcut": _parse_shortcut,
                  "route": _parse_route, "upsample": _parse_upsample,
                  "maxpool": _parse_maxpool, "yolo": _parse_yolo}


def parse_cfg(text: str, source: str | Path = "<cfg>") -> DarknetCfg:
    """Parse Darknet cfg text into records; `source` names the file in error messages."""
    source = str(source)
    sections = _read_sections(text, source)
    if not sections or sections[0].name != "net":
        line = sections[0].line if sections else None
        raise CfgError(source, line, "a Darknet cfg must start with a [net] section")
    net = _parse_net(_SectionReader(sections[0], source))
    layers = []
    for section in sections[1:]:
        if section.name == "net":
            raise CfgError(source, section.line, "[net] may appear only once, at the top")
        layers.append(_LAYER_PARSERS[section.name](_SectionReader(section, source)))
    if not layers:
        raise CfgError(source, None, "the cfg has a [net] section but no layers")
    cfg = DarknetCfg(net=net, layers=tuple(layers), source=source)
    validate_cfg(cfg)
    return cfg


def read_cfg(path: str | Path) -> DarknetCfg:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CfgError(path, None, "file not found") from None
    except UnicodeDecodeError:
        raise CfgError(path, None, "not a text file (is this a .weights file?)") from None
    return parse_cfg(text, path)


def validate_cfg(cfg: DarknetCfg) -> None:
    """Check references and shapes; raises CfgError naming the offending layer's line."""
    from edgeprune.models.shapes import infer_shapes  # shapes needs these records

    for index, layer in enumerate(cfg.layers):
        for ref in cfg.source_indices(index):
            if not 0 <= ref < index:
                raise CfgError(cfg.source, layer.line,
                               f"layer {index} ({layer_kind(layer)}) refers to layer {ref}, "
                               f"which does not exist before it (valid: 0..{index - 1})")
        if isinstance(layer, YoloLayer):
            previous = cfg.layers[index - 1]
            expected = len(layer.mask) * (layer.classes + 5)
            if not isinstance(previous, ConvLayer):
                raise CfgError(cfg.source, layer.line,
                               f"[yolo] layer {index} must follow a [convolutional] layer")
            if previous.filters != expected:
                raise CfgError(cfg.source, previous.line,
                               f"layer {index - 1} has filters={previous.filters} but the [yolo] "
                               f"after it needs {len(layer.mask)} x ({layer.classes} + 5) = "
                               f"{expected}")
    infer_shapes(cfg)


_KIND_NAMES = {NetSection: "net", ConvLayer: "convolutional", ShortcutLayer: "shortcut",
               RouteLayer: "route", UpsampleLayer: "upsample", MaxpoolLayer: "maxpool",
               YoloLayer: "yolo"}


def layer_kind(layer: Layer | NetSection) -> str:
    """The Darknet section name of a record (`convolutional`, `route`, ...)."""
    return _KIND_NAMES[type(layer)]
