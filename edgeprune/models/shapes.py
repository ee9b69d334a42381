"""Output shapes of every layer of a cfg, computed by Darknet's own size rules.

Used to validate a cfg before any tensor exists (a route joining mismatched sizes is a cfg error
with a line number, not a torch error deep in forward) and to count parameters and FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.errors import CfgError
from edgeprune.models.cfg import (
    ConvLayer,
    DarknetCfg,
    MaxpoolLayer,
    RouteLayer,
    ShortcutLayer,
    UpsampleLayer,
    YoloLayer,
)


@dataclass(frozen=True)
class Shape:
    channels: int
    height: int
    width: int


def infer_shapes(cfg: DarknetCfg, input_hw: tuple[int, int] | None = None) -> list[Shape]:
    """Output shape of each layer for an input of `input_hw` (default: the cfg's [net] size)."""
    height, width = input_hw or (cfg.net.height, cfg.net.width)
    previous = Shape(cfg.net.channels, height, width)
    shapes: list[Shape] = []
    for index, layer in enumerate(cfg.layers):
        if isinstance(layer, ConvLayer):
            if previous.channels % layer.groups or layer.filters % layer.groups:
                raise CfgError(cfg.source, layer.line,
                               f"layer {index}: groups={layer.groups} does not divide input "
                               f"channels {previous.channels} and filters {layer.filters}")
            pad = layer.padding_pixels
            out = Shape(layer.filters,
                        (previous.height + 2 * pad - layer.size) // layer.stride + 1,
                        (previous.width + 2 * pad - layer.size) // layer.stride + 1)
        elif isinstance(layer, MaxpoolLayer):
            pad = layer.total_padding
            out = Shape(previous.channels,
                        (previous.height + pad - layer.size) // layer.stride + 1,
                        (previous.width + pad - layer.size) // layer.stride + 1)
        elif isinstance(layer, UpsampleLayer):
            out = Shape(previous.channels, previous.height * layer.stride,
                        previous.width * layer.stride)
        elif isinstance(layer, ShortcutLayer):
            other = shapes[cfg.source_indices(index)[1]]
            if other != previous:
                raise CfgError(cfg.source, layer.line,
                               f"layer {index}: shortcut adds {_fmt(other)} to {_fmt(previous)}; "
                               f"edgeprune needs equal shapes")
            out = previous
        elif isinstance(layer, RouteLayer):
            out = _route_shape(cfg, index, layer, shapes)
        elif isinstance(layer, YoloLayer):
            out = previous
        else:  # pragma: no cover - parse_cfg builds only the types above
            raise TypeError(layer)
        if out.height < 1 or out.width < 1:
            raise CfgError(cfg.source, layer.line,
                           f"layer {index}: input {height}x{width} shrinks to nothing here")
        shapes.append(out)
        previous = out
    return shapes


def _route_shape(cfg: DarknetCfg, index: int, layer: RouteLayer, shapes: list[Shape]) -> Shape:
    inputs = [shapes[i] for i in cfg.source_indices(index)]
    sizes = {(s.height, s.width) for s in inputs}
    if len(sizes) != 1:
        joined = ", ".join(_fmt(s) for s in inputs)
        raise CfgError(cfg.source, layer.line,
                       f"layer {index}: route joins outputs of different sizes ({joined})")
    for source_index, shape in zip(cfg.source_indices(index), inputs, strict=True):
        if shape.channels % layer.groups:
            raise CfgError(cfg.source, layer.line,
                           f"layer {index}: groups={layer.groups} does not divide the "
                           f"{shape.channels} channels of layer {source_index}")
    height, width = sizes.pop()
    return Shape(sum(s.channels // layer.groups for s in inputs), height, width)


def _fmt(shape: Shape) -> str:
    return f"{shape.channels}x{shape.height}x{shape.width}"


def input_channels(cfg: DarknetCfg, shapes: list[Shape], index: int) -> int:
    """Channels entering layer `index` (the previous layer's output, or the image)."""
    return shapes[index - 1].channels if index > 0 else cfg.net.channels
