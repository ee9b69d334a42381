"""Rounds: agents propose several candidates before they learn from them. What a seed proposes
depends on the round size only, a round that spans a PPO update still trains, the uniform
baseline splits its interval k ways, and a search killed in the middle of a round resumes
there, repeating nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edgeprune.models.counting import count_gflops
from edgeprune.search.agents.base import create_agent
from edgeprune.search.loop import Search
from edgeprune.search.proxy import ProxySettings
from edgeprune.search.settings import SearchSettings
from edgeprune.search.target import Target
from tests.search.agent_helpers import RL_AGENTS, context, evaluation, kept_fraction
from tests.search.test_agents_in_loop import QUICK_PROTOCOL
from tests.search.test_baselines import _model
from tests.search.test_baselines import context as gflops_context
from tests.search.test_baselines import evaluate as gflops_evaluate


def drive_rounds(agent, steps: int, size: int, reward_of) -> list:
    """Propose a round, then observe it in step order, like the search loop; latency and
    GFLOPs follow the kept channels, so the agents' latency fits move too."""
    specs = []
    while len(specs) < steps and not agent.finished():
        first = len(specs)
        proposed = agent.propose_round(first, min(size, steps - first))
        assert 1 <= len(proposed) <= size
        for step, spec in enumerate(proposed, first):
            kept = kept_fraction(agent.context, spec)
            agent.observe(evaluation(spec, step, reward_of(spec), gflops=kept,
                                     latency_ms=20.0 * (0.3 + 0.7 * kept)))
        specs += proposed
    return specs


@pytest.mark.parametrize("name", [*RL_AGENTS, "random"])
def test_rounds_are_deterministic_and_depend_on_the_round_size(name):
    ctx = context()

    def reward(spec):
        return -abs(kept_fraction(ctx, spec) - 0.4)

    in_fours = drive_rounds(create_agent(name, ctx), 8, 4, reward)
    again = drive_rounds(create_agent(name, ctx), 8, 4, reward)
    assert [s.hash for s in again] == [s.hash for s in in_fours]
    one_by_one = drive_rounds(create_agent(name, ctx), 8, 1, reward)
    sequential = create_agent(name, ctx)
    for step, spec in enumerate(one_by_one):  # round size 1 is the plain ask/tell
        assert sequential.propose(step).hash == spec.hash
        kept = kept_fraction(ctx, spec)
        sequential.observe(evaluation(spec, step, reward(spec), gflops=kept,
                                      latency_ms=20.0 * (0.3 + 0.7 * kept)))
    if name != "random":  # a learning agent learns later in rounds of 4: other proposals
        assert [s.hash for s in in_fours] != [s.hash for s in one_by_one]


@pytest.mark.parametrize("name", ["gcn", "rlpruner"])
def test_a_round_longer_than_a_ppo_update_still_learns(name):
    """Round of 10 with PPO updates every 4: the samples observed after an update were drawn
    before it, and are judged under the policy that drew them (a wrong old log-probability
    would show as a ratio far from 1 and a collapsed update: the test wants learning)."""
    # the aim held still: this reward ignores the latency target the aim follows
    ctx = context(options={"samples_per_update": 4, "feasible_share": 0})
    goal = 0.3

    def reward(spec):
        return -abs(kept_fraction(ctx, spec) - goal)

    agent = create_agent(name, ctx)
    specs = drive_rounds(agent, 40, 10, reward)
    assert not agent.pending
    distance = np.abs(np.array([kept_fraction(ctx, s) for s in specs]) - goal)
    assert distance[-8:].mean() < 0.85 * distance[:8].mean()


def test_uniform_splits_its_interval_k_ways():
    model = _model()
    ctx = gflops_context(model, target=0.5 * count_gflops(model.cfg))
    results = {}
    for size in (1, 3):
        agent = create_agent("uniform", ctx)
        rounds = evaluations = 0
        while not agent.finished():
            proposed = agent.propose_round(evaluations, size)
            assert len({s.hash for s in proposed}) == len(proposed) <= size
            for step, spec in enumerate(proposed, evaluations):
                agent.observe(gflops_evaluate(ctx, spec, step))
            evaluations += len(proposed)
            rounds += 1
        results[size] = (rounds, evaluations, agent.best_guess())
    assert results[3][2] == results[1][2]  # the same widest network within the target
    assert results[3][0] < results[1][0]  # in fewer rounds, with more candidates
    assert results[3][1] >= results[1][1]


@pytest.mark.slow  # kill-and-resume is also covered by test_search_cli, test_measuring
def test_search_killed_mid_round_resumes_there(search_setup, tmp_path):
    """Rounds of 3 over a budget of 5 (3 + 2); the log cut inside the first round, and inside
    the second: each resumed run proposes and records exactly what the whole one did."""
    settings = SearchSettings(
        weights=str(search_setup.weights), data=str(search_setup.data),
        target=Target(speedup=1.25), threads=1, protocol=QUICK_PROTOCOL, agent="abcp",
        budget=5, round_size=3, proxy_settings=ProxySettings(recal_batches=2, batch_size=4),
        val_images=4)
    whole = Search.start(settings, tmp_path / "whole", show_progress=False).run()
    assert [r.step for r in whole.records] == [0, 1, 2, 3, 4]
    for kept in (2, 4):
        cut = tmp_path / f"cut{kept}"
        shutil.copytree(tmp_path / "whole", cut)
        lines = (cut / "candidates.jsonl").read_text().splitlines(keepends=True)
        (cut / "candidates.jsonl").write_text("".join(lines[:kept]))
        resumed = Search.resume(cut, show_progress=False).run()
        assert resumed.replayed == kept and resumed.evaluated == 5 - kept
        assert [r.spec_hash for r in resumed.records] == [r.spec_hash for r in whole.records]
        assert [r.accuracy for r in resumed.records] == [r.accuracy for r in whole.records]
        assert resumed.measured == 0  # the cut candidates' latencies were in the run's cache
