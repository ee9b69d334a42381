"""What an agent's policy sees of the network: features per decision point, and the layer graph.

Hand-made decision features (kind, width, depth, resolution, FLOPs and parameter shares) feed
the `abcp`, `purl` and `rlpruner` policies; `gcn` instead learns node embeddings over the cfg's
own graph (`LayerGraph`: a node per layer, edges for sequential, shortcut and route reads).
Everything here is a pure function of the cfg, so agents built twice agree exactly.
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
from edgeprune.search.agents.actions import DecisionTable
from edgeprune.search.agents.costs import CostModel

DECISION_FEATURES = ("is_block", "is_channels", "log_width", "depth", "log_stride",
                     "flops_share", "params_share", "inside_block")
LAYER_KINDS = (ConvLayer, ShortcutLayer, RouteLayer, UpsampleLayer, MaxpoolLayer, YoloLayer)
NODE_FEATURES = (*(k.__name__ for k in LAYER_KINDS), "log_width", "depth", "log_stride",
                 "flops_share", "params_share", "kernel_3x3", "prunable", "inside_block")


def _strides(space: PruneSpace) -> list[float]:
    cfg = space.cfg
    return [cfg.net.height / s.height for s in infer_shapes(cfg)]


def _scaled(values: np.ndarray) -> np.ndarray:
    """Shares scaled so the largest is 1 (a share of a 70-decision network is tiny)."""
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else values


def decision_features(table: DecisionTable, costs: CostModel) -> np.ndarray:
    """(decisions, len(DECISION_FEATURES)) float32 array, rows in network order."""
    space = table.context.space
    cfg = space.cfg
    per_layer = layer_costs(cfg)
    strides = _strides(space)
    conv_row = {int(layer): c for c, layer in enumerate(costs.conv_layers)}
    conv_flops = costs.unit * costs.set_widths[costs.out_set] * costs.inputs.sum(axis=1)
    flops, params = np.zeros(len(table)), np.zeros(len(table))
    for p, decision in enumerate(table.decisions):
        if decision.kind == "block":
            block = space.blocks[decision.index]
            layers = [i for i in block.layers if i in conv_row]
            flops[p] = sum(conv_flops[conv_row[i]] for i in layers)
        else:
            group = table.groups[p]
            layers = list(group.layers)
            # the convs producing the group, and those reading it, shrink with it
            readers = np.flatnonzero(costs.inputs[:, group.set_id] > 0)
            touched = {conv_row[i] for i in layers} | set(readers.tolist())
            flops[p] = sum(conv_flops[c] for c in touched)
        params[p] = sum(per_layer[i].params for i in layers)
    rows = []
    for p, decision in enumerate(table.decisions):
        rows.append([
            float(decision.kind == "block"), float(decision.kind == "channels"),
            math.log2(max(decision.width, 1)) / 10, decision.layer / len(cfg.layers),
            math.log2(strides[decision.layer]) / 5, 0.0, 0.0, float(table.owner[p] >= 0)])
    features = np.array(rows, dtype=np.float32)
    features[:, 5] = _scaled(flops)
    features[:, 6] = _scaled(params)
    return features


@dataclass(frozen=True)
class LayerGraph:
    """The cfg as a graph for a graph convolution.

    `adjacency` is the symmetrically normalized D^-1/2 (A + I) D^-1/2 of the undirected read
    graph; `members[p]` lists the nodes (layers) decision p acts on: a block's layers, or the
    convs producing a channel group.
    """

    features: np.ndarray  # (layers, len(NODE_FEATURES)) float32
    adjacency: np.ndarray  # (layers, layers) float32
    members: tuple[tuple[int, ...], ...]


def layer_graph(table: DecisionTable) -> LayerGraph:
    space = table.context.space
    cfg = space.cfg
    count = len(cfg.layers)
    per_layer = layer_costs(cfg)
    strides = _strides(space)
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
    features[:, kinds + 3] = _scaled(flops)
    features[:, kinds + 4] = _scaled(params)
    scale = 1.0 / np.sqrt(adjacency.sum(axis=1))
    adjacency = adjacency * scale[:, None] * scale[None, :]
    members = tuple(tuple(space.blocks[d.index].layers) if d.kind == "block"
                    else tuple(table.groups[p].layers) for p, d in enumerate(table.decisions))
    return LayerGraph(features, adjacency.astype(np.float32), members)
