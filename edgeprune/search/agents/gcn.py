"""`gcn`: Graph PruningNet: layer states learned by a graph convolution over the network itself.

Instead of hand-made per-layer features fed in sequence, each layer of the cfg is a node of a
graph whose edges are the reads the cfg declares (sequential, shortcut, route), with raw node
features (layer kind, width, depth, resolution, FLOPs and parameter shares, kernel, prunable,
inside a residual block). Two graph-convolution layers (H' = relu(A_hat H W), A_hat the
normalized adjacency with self-loops) give every layer an embedding that mixes in its
neighbourhood: a conv feeding a route to a detection head "knows" it. A decision point's
embedding is the mean over its layers (a block's layers, a channel group's producers); a
small head turns it into a block drop logit or a keep-ratio mean (distribution in policy.py).

With a trained Graph PruningNet (the `pruningnet` accuracy proxy), each node's raw features
are joined by its learned embedding from that network's encoder (AgentContext
`node_embeddings`): the states the weight-sharing network learned while producing weights for
sub-networks, as the Graph PruningNet paper uses its PruningNet's node features for the RL
states (option `pruningnet_states`).

Training: PPO. A round of `samples_per_update` candidates is sampled from the current
policy; then `epochs` Adam steps on the clipped surrogate with round-normalized rewards as
advantages, plus an entropy bonus. Starts like `abcp` (drop_init, ratio means at the
centre refitted to the measured latencies, common.py) with a near-zero head. Each candidate's
old log-probability is taken when it is proposed, so candidates proposed together in a round
(the search's round size) are judged under the policy that really sampled them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import AgentContext, register_agent
from edgeprune.search.agents.common import (
    SAMPLING_OPTIONS,
    Option,
    SamplingAgent,
    init_parameters,
)
from edgeprune.search.agents.features import layer_graph
from edgeprune.search.agents.policy import (
    bounded_std,
    decisions_log_prob,
    normalized,
    one_thread,
    ppo_objective,
    ratio_mean,
    sample_decisions,
)
from edgeprune.search.candidate import Candidate


class GraphPolicy(nn.Module):
    def __init__(self, node_features: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = nn.Linear(node_features, hidden)
        self.conv2 = nn.Linear(hidden, hidden)
        self.head = nn.Sequential(nn.Linear(hidden + 2, hidden), nn.Tanh(), nn.Linear(hidden, 2))

    def forward(self, nodes: torch.Tensor, adjacency: torch.Tensor, members: torch.Tensor,
                kinds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(adjacency @ self.conv1(nodes))
        h = torch.relu(adjacency @ self.conv2(h))
        out = self.head(torch.cat([members @ h, kinds], dim=1))
        return out[:, 0], out[:, 1]


@register_agent
class GraphPruningAgent(SamplingAgent):
    name = "gcn"
    OPTIONS = {
        "hidden": Option(32, "size of the node embeddings and the head", 4, 1024),
        "lr": Option(0.01, "Adam learning rate", 0.0, 1.0),
        "samples_per_update": Option(4, "candidates per PPO round", 2, 10000),
        "epochs": Option(4, "PPO gradient steps per round", 1, 1000),
        "clip": Option(0.2, "PPO clip range eps", 0.01, 1.0),
        "pruningnet_states": Option(True, "join each node's features with the trained Graph "
                                    "PruningNet's embedding, when the search has one"),
        **SAMPLING_OPTIONS,
    }

    def __init__(self, context: AgentContext) -> None:
        super().__init__(context)
        opts = self.options
        graph = layer_graph(self.table)
        nodes = graph.features
        learned = context.node_embeddings
        if opts["pruningnet_states"] and learned is not None:
            nodes = np.concatenate([nodes, np.asarray(learned, dtype=np.float32)], axis=1)
        self.nodes = torch.from_numpy(np.ascontiguousarray(nodes))
        self.adjacency = torch.from_numpy(graph.adjacency)
        members = np.zeros((len(self.table), len(graph.features)), dtype=np.float32)
        for p, layers in enumerate(graph.members):
            members[p, list(layers)] = 1.0 / len(layers)
        self.members = torch.from_numpy(members)
        self.kinds = torch.from_numpy(np.stack([self.table.is_block, ~self.table.is_block],
                                               axis=1).astype(np.float32))
        self.policy = GraphPolicy(self.nodes.shape[1], opts["hidden"])
        init_parameters(self.policy, self.torch_generator)
        with torch.no_grad():
            self.policy.head[-1].weight.mul_(0.1)
        self.optimizer = torch.optim.Adam([*self.policy.parameters(), self.log_std],
                                          lr=opts["lr"])
        # (drop, ratios, ratio_bias it was proposed under, old log-probability, reward)
        self.batch: list[tuple[np.ndarray, np.ndarray, float, float, float]] = []
        self.pending: dict[int, tuple[float, float]] = {}  # step -> (ratio_bias, old log-prob)

    def _heads(self, ratio_bias: float) -> tuple[torch.Tensor, torch.Tensor]:
        drop, ratio = self.policy(self.nodes, self.adjacency, self.members, self.kinds)
        return drop + self.drop_bias, ratio_mean(ratio + ratio_bias, self.table.lo,
                                                 self.table.hi)

    @one_thread
    def propose(self, step: int) -> PruneSpec:
        with torch.no_grad():
            logits, means = self._heads(self.ratio_bias)
            std = bounded_std(self.log_std)
            drop, ratios = sample_decisions(self.table, logits, means, std,
                                            self.torch_generator)
            spec = self.table.to_spec(drop, ratios)
            old, _ = decisions_log_prob(self.table, logits, means, std,
                                        *self.table.from_spec(spec))
        self.pending[step] = (self.ratio_bias, float(old))
        return spec

    @one_thread
    def observe(self, evaluation: Candidate) -> None:
        drop, ratios = self.table.from_spec(evaluation.spec)
        if evaluation.step in self.pending:
            ratio_bias, old = self.pending.pop(evaluation.step)
        else:  # not proposed by this agent: judged under the current policy
            ratio_bias = self.ratio_bias
            with torch.no_grad():
                logits, means = self._heads(ratio_bias)
                old = float(decisions_log_prob(self.table, logits, means,
                                               bounded_std(self.log_std), drop, ratios)[0])
        self.batch.append((drop, ratios, ratio_bias, old, self.reward_of(evaluation)))
        if len(self.batch) >= self.options["samples_per_update"]:
            self._update()
        self.calibrate(evaluation)

    def _update(self) -> None:
        batch, self.batch = self.batch, []
        advantages = torch.tensor(normalized([r for *_, r in batch]), dtype=torch.float32)
        if not advantages.any():
            return
        old = torch.tensor([o for *_, o, _ in batch])
        for _ in range(self.options["epochs"]):
            # each candidate under the centre it was proposed with, so the probability ratio
            # measures what learning changed, not how the centre moved
            std = bounded_std(self.log_std)
            heads = {bias: self._heads(bias) for bias in {b for _, _, b, _, _ in batch}}
            pairs = [decisions_log_prob(self.table, *heads[bias], std, drop, ratios)
                     for drop, ratios, bias, _, _ in batch]
            log_prob = torch.stack([lp for lp, _ in pairs])
            entropy = torch.stack([h for _, h in pairs]).mean()
            objective = ppo_objective(log_prob, old, advantages, self.options["clip"])
            loss = -(objective + self.options["entropy"] * entropy)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    @one_thread
    def best_guess(self) -> PruneSpec:
        with torch.no_grad():
            logits, means = self._heads(self.ratio_bias)
        snap = self.table.snap
        ratios = np.array([snap(p, float(means[p])) if not self.table.is_block[p] else 1.0
                           for p in range(len(self.table))])
        return self.table.to_spec((logits > 0).numpy(), ratios)
