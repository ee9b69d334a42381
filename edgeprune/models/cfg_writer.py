"""Darknet cfg text from the layer records of cfg.py, in the form users' files have."""

from __future__ import annotations

from collections.abc import Iterable

from edgeprune.models.cfg import (
    ConvLayer,
    DarknetCfg,
    MaxpoolLayer,
    NetSection,
    RouteLayer,
    ShortcutLayer,
    UpsampleLayer,
    YoloLayer,
    layer_kind,
)


def format_number(value: float) -> str:
    """Integers without a decimal point, as Darknet cfgs write them; others exactly."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _join(values: Iterable[float]) -> str:
    return ",".join(format_number(v) for v in values)


def _record_items(record) -> list[tuple[str, str]]:
    if isinstance(record, NetSection):
        items = [("width", record.width), ("height", record.height),
                 ("channels", record.channels)]
    elif isinstance(record, ConvLayer):
        items = []
        if record.batch_normalize:
            items.append(("batch_normalize", 1))
        items += [("filters", record.filters), ("size", record.size),
                  ("stride", record.stride)]
        if record.pad:
            items.append(("pad", 1))
        if record.padding is not None:
            items.append(("padding", record.padding))
        if record.groups != 1:
            items.append(("groups", record.groups))
        items.append(("activation", record.activation))
    elif isinstance(record, ShortcutLayer):
        items = [("from", record.from_), ("activation", record.activation)]
    elif isinstance(record, RouteLayer):
        items = [("layers", ", ".join(str(i) for i in record.layers))]
        if record.groups != 1:
            items += [("groups", record.groups), ("group_id", record.group_id)]
    elif isinstance(record, UpsampleLayer):
        items = [("stride", record.stride)]
    elif isinstance(record, MaxpoolLayer):
        items = [("size", record.size), ("stride", record.stride)]
        if record.padding is not None:
            items.append(("padding", record.padding))
    elif isinstance(record, YoloLayer):
        items = [("mask", _join(record.mask)),
                 ("anchors", ",  ".join(_join(a) for a in record.anchors)),
                 ("classes", record.classes), ("num", record.num)]
        if record.scale_x_y != 1.0:
            items.append(("scale_x_y", format_number(record.scale_x_y)))
    else:
        raise TypeError(f"not a cfg record: {record!r}")
    return [(k, str(v)) for k, v in items] + list(record.extra)


def write_cfg_text(cfg: DarknetCfg) -> str:
    """Darknet cfg text for the records; `parse_cfg(write_cfg_text(c)) == c`."""
    blocks = []
    for record in (cfg.net, *cfg.layers):
        lines = [f"[{layer_kind(record)}]"]
        lines += [f"{key}={value}" for key, value in _record_items(record)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
