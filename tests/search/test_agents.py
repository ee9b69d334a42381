"""The learning agents driven with hand-made evaluations: valid proposals, determinism (what
resume relies on), learning on a synthetic reward, and what sets each agent apart."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprune.search.agents.base import agent_names, create_agent
from edgeprune.search.agents.purl import stage_split
from tests.search.agent_helpers import (
    RL_AGENTS,
    context,
    drive,
    evaluation,
    kept_fraction,
    new_agent,
)


def test_all_agents_are_registered():
    assert set(RL_AGENTS) | {"uniform", "random"} <= set(agent_names())


@pytest.mark.parametrize("name", RL_AGENTS)
def test_proposals_are_valid_specs_and_deterministic(name):
    ctx = context()
    rng = np.random.default_rng(0)
    rewards = {}

    def reward(spec):  # random but a function of the spec, so both runs see the same
        return rewards.setdefault(spec.hash, float(rng.uniform(0, 1)))

    first = drive(create_agent(name, ctx), 8, reward)
    for spec in first:
        ctx.space.resolve(spec)
        assert spec == ctx.space.normalize(spec)
        assert (spec.round_to, spec.min_channels) == (ctx.round_to, ctx.min_channels)
        assert all(ctx.ratio_range[0] <= r <= ctx.ratio_range[1] for _, r in spec.ratios)
    assert len({s.hash for s in first}) > 1  # it explores
    again = drive(create_agent(name, ctx), 8, reward)
    assert [s.hash for s in again] == [s.hash for s in first]
    other_seed = drive(create_agent(name, context(seed=1)), 8, reward)
    assert [s.hash for s in other_seed] != [s.hash for s in first]


@pytest.mark.parametrize("name", RL_AGENTS)
def test_replayed_observations_rebuild_the_agent(name):
    """A resumed run replays the recorded evaluations into a fresh agent: it must then
    propose exactly what the uninterrupted agent proposes."""
    def reward(spec):
        return -abs(kept_fraction(ctx, spec) - 0.4)

    ctx = context()
    whole = drive(create_agent(name, ctx), 7, reward)
    resumed = create_agent(name, ctx)
    for step, spec in enumerate(whole[:4]):  # replay what was recorded
        assert resumed.propose(step).hash == spec.hash
        resumed.observe(evaluation(spec, step, reward(spec)))
    assert [s.hash for s in drive(resumed, 3, reward, start=4)] == [s.hash for s in whole[4:]]


# steps per agent: a few dozen updates, as in a real search
LEARNING_STEPS = {"abcp": 30, "gcn": 32, "rlpruner": 36, "purl": 60}


@pytest.mark.parametrize("name", sorted(LEARNING_STEPS))
def test_learning_moves_proposals_towards_higher_reward(name):
    """Synthetic reward: keep 30% of the channels. The agents start near the uniform ratio the
    latency target suggests (~70% kept here) and must move towards 30%."""
    ctx = context()
    goal = 0.3

    def reward(spec):
        return -abs(kept_fraction(ctx, spec) - goal)

    specs = drive(create_agent(name, ctx), LEARNING_STEPS[name], reward)
    if name == "purl":  # the complete candidates: the last step of each episode
        specs = specs[2::3]
    distance = np.abs(np.array([kept_fraction(ctx, s) for s in specs]) - goal)
    k = max(len(specs) // 5, 2)
    assert distance[-k:].mean() < 0.85 * distance[:k].mean()


def test_flops_agent_learns_from_the_flops_reward_only():
    """`flops` is `abcp` reading Candidate.flops_reward: measured-latency rewards that do not
    vary teach it nothing, FLOPs rewards that do move it (and the reverse for abcp)."""
    ctx = context()

    def moved(name: str, varying: str) -> bool:
        agent = create_agent(name, ctx)
        before = agent.best_guess()
        for step in range(6):
            spec = agent.propose(step)
            rewards = {"reward": 0.5, "flops_reward": 0.5}
            rewards[varying] = 1.0 - kept_fraction(ctx, spec)
            agent.observe(evaluation(spec, step, **rewards))
        return agent.best_guess() != before

    assert moved("flops", "flops_reward") and not moved("flops", "reward")
    assert moved("abcp", "reward") and not moved("abcp", "flops_reward")


def test_agents_start_near_the_target_and_offer_a_best_guess():
    for name in ("abcp", "gcn", "rlpruner"):
        light, heavy = (create_agent(name, context(target_ms=t)) for t in (16.0, 6.0))
        assert kept_fraction(light.context, light.best_guess()) > \
            kept_fraction(heavy.context, heavy.best_guess())
    assert new_agent("purl").best_guess() is None


def test_purl_episodes_decide_a_stage_per_step():
    ctx = context(options={"steps_per_episode": 3})
    agent = create_agent("purl", ctx)
    stages = agent.stages
    assert len(stages) == 3
    assert np.array_equal(np.concatenate(stages), np.arange(len(agent.table)))
    specs = drive(agent, 6, lambda spec: -kept_fraction(ctx, spec))
    for episode in (specs[:3], specs[3:]):
        decided = []
        for stage, spec in enumerate(episode):
            drop, ratios = agent.table.from_spec(spec)
            undecided = np.concatenate(stages[stage + 1:]) if stage < 2 else []
            assert not drop[undecided].any() and (ratios[undecided] == 1.0).all()
            for earlier in decided:  # earlier stages stay as they were decided
                assert set(earlier.drop_blocks) <= set(spec.drop_blocks)
                assert dict(earlier.ratios).items() <= dict(spec.ratios).items()
            decided.append(spec)
    single = create_agent("purl", context(options={"steps_per_episode": 1}))
    assert len(single.stages) == 1


def test_stage_split():
    flops = np.array([5.0, 1, 1, 1, 1, 1, 10, 1, 1])
    stages = stage_split(flops, 3)
    assert np.array_equal(np.concatenate(stages), np.arange(len(flops)))
    assert all(len(s) for s in stages)
    assert len(stage_split(np.array([100.0, 1.0]), 5)) == 2  # never an empty stage


def test_rlpruner_scales_its_distribution_to_the_fitted_latency():
    # half the base latency; the aim held at 1 so the fit alone sets the size (the aim's own
    # test is in test_agent_parts.py)
    ctx = context(target_ms=10.0, options={"feasible_share": 0})
    agent = create_agent("rlpruner", ctx)
    base = agent.costs.base_gflops
    first = agent.propose(0)
    assert not first.drop_blocks  # channels only
    # no measurement yet: latency taken proportional to FLOPs, so about half the FLOPs
    assert agent.costs.spec_gflops(first) == pytest.approx(0.5 * base, rel=0.15)
    assert agent.costs.spec_gflops(first) <= 0.5 * base
    # the device turns out to have a fixed 6 ms overhead: latency = 6 + 14 x gflops / base
    for step, fraction in enumerate((0.8, 0.6, 0.5, 0.4, 0.3), start=1):
        agent.propose(step)
        agent.observe(evaluation(first, step, reward=0.1, latency_ms=6 + 14 * fraction,
                                 gflops=fraction * ctx.base_gflops))
    later = agent.propose(6)
    # (10 - 6) / 14 of the base FLOPs now meets the target
    assert agent.costs.spec_gflops(later) == pytest.approx(4 / 14 * base, rel=0.25)


@pytest.mark.parametrize("name", ["abcp", "purl", "gcn"])
def test_centre_follows_the_measured_latency(name):
    """With learning off (lr 0), only the centre moves: a device with a fixed overhead
    (latency = 6 + 14 x FLOPs share, 20 ms at the base) needs more pruning than FLOPs
    suggest, and the proposals follow; the `flops` agent, whose cost is FLOPs, does not."""
    def mean_kept(agent_name: str, steps: int = 8) -> tuple[float, float]:
        agent = create_agent(agent_name, context(options={"lr": 0.0}))
        kept = []
        for step in range(steps):
            spec = agent.propose(step)
            kept.append(kept_fraction(agent.context, spec))
            share = agent.costs.spec_gflops(spec) / agent.costs.base_gflops
            agent.observe(evaluation(spec, step, reward=0.5, latency_ms=6 + 14 * share,
                                     gflops=share * agent.context.base_gflops))
        return float(np.mean(kept[:2])), float(np.mean(kept[-3:]))

    first, last = mean_kept(name)
    assert last < first - 0.05
    if name == "abcp":
        first, last = mean_kept("flops")
        assert last == pytest.approx(first, abs=0.05)
