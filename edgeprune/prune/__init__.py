"""Structured pruning of Darknet-graph models: specs, the space they live in, applying them.

    space = prune_space(model.cfg)                 # blocks and channel groups, in order
    spec = PruneSpec.create(drop_blocks=[3], ratios={12: 0.5}, round_to=8)
    pruned = apply_spec(model, spec, importance="l1")
    recalibrate_bn(pruned, batches, num_batches=20)
"""

from edgeprune.prune.apply import (
    PrunePlan,
    apply_spec,
    build_pruned_model,
    channel_importance,
    plan_pruning,
    prune_checkpoint,
    pruned_cfg,
)
from edgeprune.prune.importance import IMPORTANCE, Importance, get_importance, register_importance
from edgeprune.prune.space import ChannelGroup, Decision, PruneSpace, ResolvedSpec, prune_space
from edgeprune.prune.spec import PruneSpec, SpecError, load_spec, save_spec

__all__ = [
    "IMPORTANCE", "ChannelGroup", "Decision", "Importance", "PrunePlan", "PruneSpace",
    "PruneSpec", "ResolvedSpec", "SpecError", "apply_spec", "build_pruned_model",
    "channel_importance", "get_importance", "load_spec", "plan_pruning", "prune_checkpoint",
    "prune_space", "pruned_cfg", "register_importance", "save_spec",
]
