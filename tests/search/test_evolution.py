"""`evolution` (MetaPruning's evolutionary search): valid specs, deterministic for a seed,
rebuilt exactly from replayed observations, moving towards higher reward, and end to end
through the CLI, resumed to the same records."""

from __future__ import annotations

import shutil

import numpy as np
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.search.agents.base import agent_names, create_agent
from edgeprune.search.records import CandidateLog
from tests.search.agent_helpers import context, drive, evaluation, kept_fraction


def test_it_is_registered_and_proposes_valid_deterministic_specs():
    assert "evolution" in agent_names()
    ctx = context(options={"population": 4})
    rng = np.random.default_rng(0)
    rewards: dict[str, float] = {}

    def reward(spec):
        return rewards.setdefault(spec.hash, float(rng.uniform(0, 1)))

    first = drive(create_agent("evolution", ctx), 12, reward)
    for spec in first:
        ctx.space.resolve(spec)
        assert spec == ctx.space.normalize(spec)
        assert all(ctx.ratio_range[0] <= r <= ctx.ratio_range[1] for _, r in spec.ratios)
    assert [s.hash for s in drive(create_agent("evolution", ctx), 12, reward)] == \
        [s.hash for s in first]
    other = drive(create_agent("evolution", context(seed=1, options={"population": 4})), 12,
                  reward)
    assert [s.hash for s in other] != [s.hash for s in first]


def test_replayed_observations_rebuild_it():
    ctx = context(options={"population": 3})

    def reward(spec):
        return -abs(kept_fraction(ctx, spec) - 0.4)

    whole = drive(create_agent("evolution", ctx), 9, reward)
    resumed = create_agent("evolution", ctx)
    for step, spec in enumerate(whole[:5]):
        assert resumed.propose(step).hash == spec.hash
        resumed.observe(evaluation(spec, step, reward(spec)))
    assert [s.hash for s in drive(resumed, 4, reward, start=5)] == [s.hash for s in whole[5:]]


def test_children_of_the_best_move_towards_higher_reward():
    """Synthetic reward: keep 30% of the channels. After the random population, children of
    the best parents keep closer to it than the population did."""
    ctx = context(options={"population": 12, "parents": 4})
    goal = 0.3

    def reward(spec):
        return -abs(kept_fraction(ctx, spec) - goal)

    specs = drive(create_agent("evolution", ctx), 48, reward)
    distance = np.abs(np.array([kept_fraction(ctx, s) for s in specs]) - goal)
    assert distance[-12:].mean() < 0.6 * distance[:12].mean(), distance


def test_evolution_through_the_cli_resumes_to_the_same_records(search_setup, tmp_path):
    args = search_setup.args("--target-speedup", "1.25", "--out", str(tmp_path),
                             "--agent-option", "population=3", "--latency-mode", "measure",
                             "--latency-cache", str(tmp_path / "cache.sqlite"),
                             agent="evolution", budget=6)
    result = CliRunner().invoke(main, [*args, "--name", "whole"])
    assert result.exit_code == 0, result.output
    whole = CandidateLog(tmp_path / "search" / "whole").read()
    assert [r.agent for r in whole] == ["evolution"] * 6
    cut = tmp_path / "search" / "cut"
    shutil.copytree(tmp_path / "search" / "whole", cut)
    lines = (cut / "candidates.jsonl").read_text().splitlines(keepends=True)
    (cut / "candidates.jsonl").write_text("".join(lines[:4]))  # killed after step 3
    resumed = CliRunner().invoke(main, ["search", "--resume", str(cut)])
    assert resumed.exit_code == 0, resumed.output
    again = CandidateLog(cut).read()
    assert [(r.spec_hash, r.accuracy, r.latency_ms) for r in again] == \
        [(r.spec_hash, r.accuracy, r.latency_ms) for r in whole]
