"""The cfg as a graph of layers: raw node features and the normalized adjacency.

Both the `gcn` search agent and the Graph PruningNet (edgeprune/supernet) run a graph
convolution over the network's own graph: a node per cfg layer, an edge for every read the cfg
declares (sequential, shortcut, route). Node features describe the layer (kind, width, depth,
resolution, FLOPs and parameter shares, kernel, prunable, inside a residual block). Everything
here is a pure function of the cfg, so two builds agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeprune.models.cfg import (
    ConvLayer,
    MaxpoolLayer,
    RouteLayer,
    ShortcutLayer,
    UpsampleLayer,
    YoloLayer,
)
from edgeprune.models.counting import layer_costs
from edgeprune.models.shapes import infer_shapes
from edgeprune.prune.space import PruneSpace

LAYER_KINDS = (ConvLayer, ShortcutLayer, RouteLayer, UpsampleLayer, MaxpoolLayer, YoloLayer)
NODE_FEATURES = (*(k.__name__ for k in LAYER_KINDS), "log_width", "depth", "log_stride",
                 "flops_share", "params_share", "kernel_3x3", "prunable", "inside_block")


def layer_strides(space: PruneSpace) -> list[float]:
    """Each layer's output stride relative to the network input."""
    cfg = space.cfg
    return [cfg.net.height / s.height for s in infer_shapes(cfg)]


def scaled(values: np.ndarray) -> np.ndarray:
    """Shares scaled so the largest is 1 (a share of a 70-decision network is tiny)."""
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else values


@dataclass(frozen=True)
class CfgGraph:
    """`adjacency` is the symmetrically normalized D^-1/2 (A + I) D^-1/2 of the undirected read
    graph; `features` has one row per layer, columns NODE_FEATURES."""

    features: np.ndarray  # (layers, len(NODE_FEATURES)) float32
    adjacency: np.ndarray  # (layers, layers) float32


def cfg_graph(space: PruneSpace) -> CfgGraph:
    cfg = space.cfg
    count = len(cfg.layers)
    per_layer = layer_costs(cfg)
    strides = layer_strides(space)
    inside = {i for b in space.blocks for i in b.layers}
    features = np.zeros((count, len(NODE_FEATURES)), dtype=np.float32)
    adjacency = np.eye(count, dtype=np.float32)
    flops = np.array([c.flops for c in per_layer], dtype=np.float64)
    params = np.array([c.params for c in per_layer], dtype=np.float64)
    kinds = len(LAYER_KINDS)
    for i, layer in enumerate(cfg.layers):
        features[i, next(k for k, kind in enumerate(LAYER_KINDS) if isinstance(layer, kind))] = 1
        features[i, kinds:kinds + 3] = (math.log2(max(per_layer[i].output[0], 1)) / 10,
                                       i / count, math.log2(strides[i]) / 5)
        is_conv = isinstance(layer, ConvLayer)
        features[i, kinds + 5] = float(is_conv and layer.size == 3)
        features[i, kinds + 6] = float(is_conv and space.coupling.set_of(i).prunable)
        features[i, kinds + 7] = float(i in inside)
        for source in cfg.source_indices(i):
            adjacency[i, source] = adjacency[source, i] = 1.0
    features[:, kinds + 3] = scaled(flops)
    features[:, kinds + 4] = scaled(params)
    scale = 1.0 / np.sqrt(adjacency.sum(axis=1))
    adjacency = adjacency * scale[:, None] * scale[None, :]
    return CfgGraph(features, adjacency.astype(np.float32))
