"""Width variants of a cfg for calibrating and checking the latency predictor.

The pruning engine (PruneSpec, apply_spec) is another module; the table only needs networks
with other channel counts, which are cfgs with other `filters`. Uniform variants scale every
hidden conv (coupled layers scale alike, so shortcuts still add equal shapes); random variants
additionally thin each conv whose output only the next conv reads, the layers a pruner can
cut freely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from edgeprune.models.cfg import ConvLayer, DarknetCfg, validate_cfg
from edgeprune.models.graph import consumers


def scaled_channels(channels: int, fraction: float, round_to: int = 1) -> int:
    """`channels` x `fraction`, rounded to a multiple of `round_to` (as pruners do for
    hardware efficiency: CPU and GPU kernels work in channel blocks of 4, 8 or 16), never
    above `channels` and never below one block."""
    if round_to > 1 and channels >= round_to:
        rounded = int(round(channels * fraction / round_to)) * round_to
        return min(channels, max(round_to, rounded))
    return max(1, int(round(channels * fraction)))


def head_convs(cfg: DarknetCfg) -> set[int]:
    """Convs right before a yolo layer: their outputs are fixed by anchors and classes."""
    return {i - 1 for i in cfg.yolo_indices}


def free_convs(cfg: DarknetCfg) -> list[int]:
    """Convs whose output is read only by the next layer, itself a conv."""
    readers = consumers(cfg)
    fixed = head_convs(cfg)
    return [i for i, layer in enumerate(cfg.layers)
            if isinstance(layer, ConvLayer) and i not in fixed and readers[i] == [i + 1]
            and isinstance(cfg.layers[i + 1], ConvLayer)]


def with_filters(cfg: DarknetCfg, filters: dict[int, int], tag: str) -> DarknetCfg:
    layers = list(cfg.layers)
    for index, count in filters.items():
        layers[index] = dataclasses.replace(layers[index], filters=count)
    variant = cfg.replace(layers=tuple(layers), source=f"{cfg.source} [{tag}]")
    validate_cfg(variant)
    return variant


def uniform_variant(cfg: DarknetCfg, fraction: float, round_to: int = 1) -> DarknetCfg:
    fixed = head_convs(cfg)
    filters = {i: scaled_channels(layer.filters, fraction, round_to)
               for i, layer in enumerate(cfg.layers)
               if isinstance(layer, ConvLayer) and i not in fixed}
    return with_filters(cfg, filters, f"width {fraction:g}")


def random_variants(cfg: DarknetCfg, count: int, seed: int = 0,
                    keep_range: Sequence[float] = (0.25, 1.0),
                    round_to: int = 1) -> list[DarknetCfg]:
    """`count` variants: a random uniform width, then a random keep ratio per free conv."""
    rng = np.random.default_rng(seed)
    variants = []
    free = free_convs(cfg)
    for number in range(count):
        base = uniform_variant(cfg, float(rng.uniform(*keep_range)), round_to)
        filters = {i: scaled_channels(base.layers[i].filters, float(rng.uniform(*keep_range)),
                                      round_to)
                   for i in free}
        variants.append(with_filters(base, filters, f"random {number}"))
    return variants
