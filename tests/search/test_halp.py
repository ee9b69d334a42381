"""`halp`: the latency-saliency knapsack on a latency table measured on this CPU, through the
CLI on the tiny base, and the knapsack itself."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import main
from edgeprune.latency.lut import LatencyPredictor
from edgeprune.models import load_checkpoint
from edgeprune.prune import PruneSpec, prune_space
from edgeprune.prune.importance import channel_set_scores
from edgeprune.search.agents.knapsack import LatencyKnapsack
from edgeprune.search.records import CandidateLog


@pytest.fixture(scope="module")
def latency_table(search_setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("lut")
    result = CliRunner().invoke(main, [
        "latency", "lut", "--weights", str(search_setup.weights), "--grid", "0.5,1.0",
        "--variants", "1", "--ort-threads", "1", "--no-latency-cache", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "latency-lut" / "exp" / "lut.json"


def knapsack(setup, table_path):
    base = load_checkpoint(setup.weights).model
    space = prune_space(base.cfg)
    scores = {k: v.numpy() for k, v in channel_set_scores(base, "l1").items()}
    return LatencyKnapsack(space, LatencyPredictor.load(table_path), scores, PruneSpec(),
                           0.125), space


def test_knapsack_spends_its_budget_on_the_most_important_channels(search_setup,
                                                                   latency_table):
    solver, space = knapsack(search_setup, latency_table)
    full = solver.widths.astype(float)
    everything = solver.layer_sum(full, set())
    kept, dropped = solver.solve(everything * 10)
    assert np.array_equal(kept, full) and not dropped  # a budget that fits the base
    previous_value = None
    for fraction in (0.9, 0.7, 0.5):
        kept, dropped = solver.solve(everything * fraction)
        assert solver.layer_sum(kept, dropped) <= everything * fraction
        spec = solver.spec(kept, dropped)
        resolved = space.resolve(spec)  # a valid spec on the channel grid
        assert all(resolved.kept[g.set_id] % 8 == 0 or resolved.kept[g.set_id] == g.width
                   for g in space.groups)
        value = sum(solver.values[s][solver.choices[s].index(int(kept[s]))]
                    for s in solver.choices if int(kept[s]) in solver.choices[s])
        if previous_value is not None:
            assert value <= previous_value  # less budget never buys more importance
        previous_value = value


def test_halp_search_through_the_cli(search_setup, latency_table, tmp_path):
    result = CliRunner().invoke(main, search_setup.args(
        "--target-speedup", "1.25", "--latency-table", str(latency_table), "--out",
        str(tmp_path), "--name", "halp", budget=6, agent="halp"))
    assert result.exit_code == 0, result.output
    records = CandidateLog(tmp_path / "search" / "halp").read()
    assert 1 <= len(records) <= 6 and all(r.agent == "halp" for r in records)
    assert len({r.spec_hash for r in records}) == len(records)  # never the same network twice
    assert all(r.latency_ratio is not None for r in records)

    resumed = CliRunner().invoke(main, ["search", "--resume", str(tmp_path / "search" / "halp")])
    assert resumed.exit_code == 0, resumed.output  # the replay proposes what was recorded


@pytest.mark.slow  # a unit table measured in full; halp's CLI path is covered below
def test_halp_measures_its_own_table_when_none_is_given(search_setup, tmp_path):
    result = CliRunner().invoke(main, search_setup.args(
        "--target-speedup", "1.25", "--out", str(tmp_path), "--name", "own", budget=1,
        agent="halp"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "search" / "own" / "latency_table.json").is_file()
