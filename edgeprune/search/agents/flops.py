"""`flops`: the honest baseline for "measured latency in the reward": the `abcp` agent, same
controller, options and training, learning from `Candidate.flops_reward` (the same reward
formula with FLOPs, scaled to the base model's latency, in place of the measured latency).

If latency-reward search cannot beat it at equal budget, measuring latency was not worth it.
"""

from __future__ import annotations

from edgeprune.search.agents.abcp import ABCPAgent
from edgeprune.search.agents.base import register_agent


@register_agent
class FlopsRewardAgent(ABCPAgent):
    name = "flops"
    reward_metric = "flops"
