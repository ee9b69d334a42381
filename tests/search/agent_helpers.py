"""Agent contexts on tiny models, and hand-made evaluations with a synthetic reward."""

from __future__ import annotations

from edgeprune.models import create
from edgeprune.prune import PruneSpec, prune_space
from edgeprune.search.agents.base import AgentContext, SearchAgent, create_agent
from edgeprune.search.candidate import Candidate

RL_AGENTS = ("abcp", "flops", "purl", "rlpruner", "gcn")


def context(model: str = "yolov3", seed: int = 0, options: dict | None = None,
            target_ms: float = 10.0, width: float = 0.25, **changes) -> AgentContext:
    cfg = create(model, num_classes=3, width=width, imgsz=64).cfg
    values = dict(space=prune_space(cfg), budget=40, target_ms=target_ms, base_latency_ms=20.0,
                  base_accuracy=0.8, base_gflops=1.0, seed=seed, options=options or {})
    values.update(changes)
    return AgentContext(**values)


def kept_fraction(ctx: AgentContext, spec: PruneSpec) -> float:
    """Share of the prunable channels a spec keeps (groups of dropped blocks count as gone)."""
    space = ctx.space
    resolved = space.resolve(spec)
    gone = {g.set_id for block in resolved.dropped for g in space.groups
            if g.block == block.index}
    total = sum(g.width for g in space.groups)
    return sum(0 if g.set_id in gone else resolved.kept[g.set_id] for g in space.groups) / total


def evaluation(spec: PruneSpec, step: int, reward: float, flops_reward: float | None = None,
               latency_ms: float = 10.0, gflops: float = 0.5,
               accuracy: float = 0.5) -> Candidate:
    return Candidate(spec=spec, step=step, accuracy=accuracy, latency_ms=latency_ms,
                      gflops=gflops, params=1000, reward=reward,
                      flops_reward=reward if flops_reward is None else flops_reward,
                      feasible=latency_ms <= 10.0)


def drive(agent: SearchAgent, steps: int, reward_of, start: int = 0) -> list[PruneSpec]:
    """Propose/observe like the search loop; `reward_of(spec)` scores each proposal."""
    specs = []
    for step in range(start, start + steps):
        spec = agent.propose(step)
        specs.append(spec)
        agent.observe(evaluation(spec, step, reward_of(spec)))
    return specs


def new_agent(name: str, **context_changes) -> SearchAgent:
    return create_agent(name, context(**context_changes))
