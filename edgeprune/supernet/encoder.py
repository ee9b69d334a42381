"""Graph PruningNet's architecture encoder: a graph convolution over the cfg graph that, for a
sampled sub-network, produces per-layer weight modulations.

Graph PruningNet (after MetaPruning's PruningNet) generates a sub-network's weights from an
encoding of the sub-network, so one trained network gives reasonable weights for any size.
Here the encoding is a graph: a node per cfg layer with its raw features (prune/layer_graph.py)
plus what the sub-network does to it (fraction of its output and input channels kept, dropped
or not, and the sub-network's overall keep level and drop rate); two graph-convolution layers
(H' = relu(A_hat H W)) give every layer an embedding that mixes in its neighbourhood; one
fully connected layer per conv turns its node's embedding into a scale and a shift for each of
its output channels. Generating whole convolution kernels from an embedding would need a
matrix per layer the size of the kernel times the embedding; the modulation acts on the batch
norm's affine parameters instead (gamma x (1 + scale), beta + shift), which is where a slimmed
network's layers most need their own values ("switchable BN", Yu et al. 2019) and costs
`hidden x 2 x channels` parameters per layer. Scales on conv weights would be cancelled by the
batch norm that follows each conv.

The per-layer heads start at zero, so before training every sub-network gets exactly the
shared weights: the largest one reproduces the base.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgeprune.models.cfg import ConvLayer
from edgeprune.models.counting import layer_costs
from edgeprune.prune.apply import PrunePlan
from edgeprune.prune.layer_graph import cfg_graph
from edgeprune.prune.space import PruneSpace

ARCH_FEATURES = ("out_kept", "in_kept", "dropped", "level", "drop_rate")


class ArchEncoder(nn.Module):
    def __init__(self, space: PruneSpace, hidden: int = 32) -> None:
        super().__init__()
        cfg = space.cfg
        graph = cfg_graph(space)
        self.hidden = hidden
        self.register_buffer("static", torch.from_numpy(graph.features))
        self.register_buffer("adjacency", torch.from_numpy(graph.adjacency))
        costs = layer_costs(cfg)
        self.widths = [c.output[0] for c in costs]
        self.in_widths = [cfg.net.channels, *self.widths[:-1]]
        self.block_count = len(space.blocks)
        self.conv1 = nn.Linear(graph.features.shape[1] + len(ARCH_FEATURES), hidden)
        self.conv2 = nn.Linear(hidden, hidden)
        self.modulated = [i for i, layer in enumerate(cfg.layers)
                          if isinstance(layer, ConvLayer) and layer.batch_normalize]
        self.heads = nn.ModuleDict({str(i): nn.Linear(hidden, 2 * cfg.layers[i].filters)
                                    for i in self.modulated})
        for head in self.heads.values():
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def arch_features(self, plan: PrunePlan) -> torch.Tensor:
        """(layers, len(ARCH_FEATURES)): what the sub-network of `plan` does to each layer."""
        rows = np.zeros((len(self.widths), len(ARCH_FEATURES)), dtype=np.float32)
        conv_kept = []
        for i in range(len(self.widths)):
            dropped = plan.new_index[i] is None
            out_kept = 0.0 if dropped else len(plan.kept[i]) / max(self.widths[i], 1)
            in_kept = 0.0 if dropped else len(plan.input_kept(i)) / max(self.in_widths[i], 1)
            rows[i, :3] = (out_kept, in_kept, float(dropped))
            if isinstance(plan.base.layers[i], ConvLayer) and not dropped:
                conv_kept.append(out_kept)
        rows[:, 3] = float(np.mean(conv_kept)) if conv_kept else 0.0
        rows[:, 4] = len(plan.resolved.dropped) / max(self.block_count, 1)
        return torch.from_numpy(rows)

    def embeddings(self, plan: PrunePlan) -> torch.Tensor:
        """(layers, hidden) node embeddings of the sub-network of `plan`."""
        arch = self.arch_features(plan).to(self.static.device)
        h = torch.cat([self.static, arch], dim=1)
        h = torch.relu(self.adjacency @ self.conv1(h))
        return torch.relu(self.adjacency @ self.conv2(h))

    def forward(self, plan: PrunePlan) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Base layer index -> (scale, shift), each (filters,), for every batch-normalized conv
        the sub-network keeps."""
        h = self.embeddings(plan)
        out = {}
        for i in self.modulated:
            if plan.new_index[i] is None:
                continue
            scale, shift = self.heads[str(i)](h[i]).chunk(2)
            out[i] = (scale, shift)
        return out
