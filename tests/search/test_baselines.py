"""The uniform and random baselines, driven by a stand-in latency (GFLOPs) so the bisection's
answer can be checked against every uniform network."""

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.models.counting import count_gflops
from edgeprune.prune import prune_space, pruned_cfg
from edgeprune.search.agents.base import AgentContext, agent_names, create_agent
from edgeprune.search.candidate import Candidate


def context(model, target: float, seed: int = 0, **options) -> AgentContext:
    space = prune_space(model.cfg)
    return AgentContext(space=space, budget=40, target_ms=target,
                        base_latency_ms=count_gflops(model.cfg), base_accuracy=0.5,
                        base_gflops=count_gflops(model.cfg), seed=seed, options=options)


def evaluate(ctx: AgentContext, spec, step: int) -> Candidate:
    cost = count_gflops(pruned_cfg(ctx.space.cfg, spec))
    return Candidate(spec=spec, step=step, accuracy=0.5, latency_ms=cost, gflops=cost,
                      params=0, reward=0.5, flops_reward=0.5, feasible=cost <= ctx.target_ms)


def drive(agent, ctx: AgentContext, budget: int = 40) -> list[Candidate]:
    evaluations = []
    for step in range(budget):
        if agent.finished():
            break
        evaluation = evaluate(ctx, agent.propose(step), step)
        agent.observe(evaluation)
        evaluations.append(evaluation)
    return evaluations


def test_both_baselines_are_registered():
    assert {"uniform", "random"} <= set(agent_names())
    with pytest.raises(EdgepruneError, match="unknown search agent 'nope'"):
        create_agent("nope", context(_model(), 1.0))


def _model():
    from edgeprune.models import create

    return create("yolov3", num_classes=3, width=0.125, imgsz=64)


@pytest.mark.parametrize("fraction", [0.3, 0.55, 0.8])
def test_uniform_bisection_finds_the_widest_uniform_network_within_the_target(fraction):
    model = _model()
    ctx = context(model, target=fraction * count_gflops(model.cfg))
    agent = create_agent("uniform", ctx)
    evaluations = drive(agent, ctx)
    assert agent.finished() and len(evaluations) <= 8  # log2 of the distinct networks
    assert len({e.spec.hash for e in evaluations}) == len(evaluations)  # nothing twice
    assert all(not e.spec.drop_blocks and not e.spec.ratios for e in evaluations)
    feasible = [e for e in evaluations if e.feasible]
    best = max(feasible, key=lambda e: e.spec.default_ratio)
    assert agent.best_guess() == best.spec
    # no wider uniform network meets the target
    wider = [r for r in agent.ratios if r > best.spec.default_ratio]
    assert wider, "the base itself must be out of reach"
    assert evaluate(ctx, ctx.spec(default_ratio=min(wider)), 0).feasible is False


def test_uniform_reports_nothing_feasible_when_channels_alone_cannot_reach():
    model = _model()
    ctx = context(model, target=1e-9)
    agent = create_agent("uniform", ctx)
    evaluations = drive(agent, ctx)
    assert agent.finished() and not any(e.feasible for e in evaluations)
    assert evaluations[-1].spec.default_ratio == pytest.approx(0.125)
    assert agent.best_guess() is None


def test_random_is_reproducible_and_stays_in_the_space():
    model = _model()
    ctx = context(model, target=0.5 * count_gflops(model.cfg), seed=3)
    first = create_agent("random", ctx).propose(0)
    agent_a, agent_b = create_agent("random", ctx), create_agent("random", ctx)
    specs_a = [agent_a.propose(s) for s in range(12)]
    specs_b = [agent_b.propose(s) for s in range(12)]
    assert specs_a == specs_b and specs_a[0] == first
    other = create_agent("random", context(model, target=1.0, seed=4))
    assert [other.propose(s) for s in range(12)] != specs_a
    assert len({s.hash for s in specs_a}) == 12
    assert any(s.drop_blocks for s in specs_a)
    for spec in specs_a:
        ctx.space.resolve(spec)
        assert all(0.125 <= r <= 1.0 for _, r in spec.ratios)
    costs = [evaluate(ctx, s, 0).latency_ms for s in specs_a]
    assert max(costs) / min(costs) > 2  # candidates spread over the latency range


def test_random_options_narrow_the_draw():
    model = _model()
    agent = create_agent("random", context(model, target=1.0, spread=0.0, max_drop=0.0))
    for step in range(5):
        spec = agent.propose(step)
        assert not spec.drop_blocks
        assert len({r for _, r in spec.ratios}) == 1  # one level for every group


def test_random_rejects_an_unknown_or_out_of_range_option():
    model = _model()
    with pytest.raises(EdgepruneError, match="agent 'random' has no option 'spred'.*max_drop"):
        create_agent("random", context(model, target=1.0, spred=0.1))
    with pytest.raises(EdgepruneError, match="max_drop"):
        create_agent("random", context(model, target=1.0, max_drop=1.5))
