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

from edgeprune.models.counting import layer_costs
from edgeprune.prune.layer_graph import cfg_graph, layer_strides, scaled
from edgeprune.search.agents.actions import DecisionTable
from edgeprune.search.agents.costs import CostModel

DECISION_FEATURES = ("is_block", "is_channels", "log_width", "depth", "log_stride",
                     "flops_share", "params_share", "inside_block")


def decision_features(table: DecisionTable, costs: CostModel) -> np.ndarray:
    """(decisions, len(DECISION_FEATURES)) float32 array, rows in network order."""
    space = table.context.space
    cfg = space.cfg
    per_layer = layer_costs(cfg)
    strides = layer_strides(space)
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
    features[:, 5] = scaled(flops)
    features[:, 6] = scaled(params)
    return features


@dataclass(frozen=True)
class LayerGraph:
    """The cfg as a graph for a graph convolution (prune/layer_graph.py), and which nodes
    (layers) each decision acts on: `members[p]` lists a block's layers, or the convs
    producing a channel group."""

    features: np.ndarray  # (layers, len(NODE_FEATURES)) float32
    adjacency: np.ndarray  # (layers, layers) float32
    members: tuple[tuple[int, ...], ...]


def layer_graph(table: DecisionTable) -> LayerGraph:
    space = table.context.space
    graph = cfg_graph(space)
    members = tuple(tuple(space.blocks[d.index].layers) if d.kind == "block"
                    else tuple(table.groups[p].layers) for p, d in enumerate(table.decisions))
    return LayerGraph(graph.features, graph.adjacency, members)
