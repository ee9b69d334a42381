"""The pieces the learning agents share: cost model, latency fit, ratio bins, decision table,
action probabilities, layer graph, options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgeprune.errors import EdgepruneError
from edgeprune.models import create
from edgeprune.models.cfg import read_cfg
from edgeprune.models.counting import count_gflops
from edgeprune.prune import PruneSpec, prune_space, pruned_cfg
from edgeprune.prune.layer_graph import NODE_FEATURES
from edgeprune.search.agents.actions import DecisionTable, ratio_bins
from edgeprune.search.agents.base import create_agent
from edgeprune.search.agents.common import Option, read_options
from edgeprune.search.agents.costs import CostModel, LatencyFit
from edgeprune.search.agents.features import DECISION_FEATURES, decision_features, layer_graph
from edgeprune.search.agents.policy import (
    binned_normal_log_prob,
    decisions_log_prob,
    sample_decisions,
)
from tests.search.agent_helpers import context

GROUPED_CFG = Path(__file__).resolve().parents[1] / "prune" / "grouped_tiny.cfg"


def _random_spec(space, rng, round_to=8, min_channels=8) -> PruneSpec:
    drops = [b.index for b in space.blocks if rng.random() < 0.3]
    ratios = {g.key: float(rng.uniform(0.05, 1.0)) for g in space.groups}
    return space.normalize(PruneSpec.create(drop_blocks=drops, ratios=ratios,
                                            round_to=round_to, min_channels=min_channels))


@pytest.mark.parametrize("name", ["yolov3", "yolov3-tiny", "yolov3-spp", "grouped"])
def test_cost_model_counts_exactly_what_the_pruned_cfg_counts(name):
    cfg = read_cfg(GROUPED_CFG) if name == "grouped" else create(name, 3, 0.25, 96).cfg
    space = prune_space(cfg)
    costs = CostModel(space)
    assert costs.base_gflops == pytest.approx(count_gflops(cfg), rel=1e-12)
    rng = np.random.default_rng(1)
    for round_to in (8, 1):
        for _ in range(4):
            spec = _random_spec(space, rng, round_to, min_channels=round_to)
            assert costs.spec_gflops(spec) == pytest.approx(
                count_gflops(pruned_cfg(cfg, spec)), rel=1e-9)


def test_uniform_ratio_for_is_the_widest_ratio_within_the_flops():
    space = prune_space(create("yolov3", 3, 0.25, 96).cfg)
    costs, rules = CostModel(space), PruneSpec()

    def cost(ratio):
        return costs.spec_gflops(space.normalize(PruneSpec.uniform(ratio)))

    budget = 0.4 * costs.base_gflops
    ratio = costs.uniform_ratio_for(budget, rules, (0.125, 1.0))
    assert cost(ratio) <= budget < cost(ratio + 0.02)
    assert costs.uniform_ratio_for(2 * costs.base_gflops, rules, (0.125, 1.0)) == 1.0
    assert costs.uniform_ratio_for(0.0, rules, (0.125, 1.0)) == 0.125
    # dropping blocks (in expectation) leaves room for wider channels
    half_blocks = np.full(len(space.blocks), 0.5)
    assert costs.uniform_ratio_for(budget, rules, (0.125, 1.0), half_blocks) > ratio


def test_latency_fit():
    fit = LatencyFit(base_gflops=2.0, base_latency_ms=10.0)
    assert fit.predict(1.0) == pytest.approx(5.0)  # proportional with the base alone
    for gflops in (0.5, 1.0, 1.5):
        fit.add(gflops, 4.0 + 3.0 * gflops)
    fit.add(2.0, 10.0)
    assert fit.coefficients() == pytest.approx((4.0, 3.0), abs=0.2)
    assert fit.gflops_for(fit.predict(1.2)) == pytest.approx(1.2)
    fit.add(1.0, float("nan"))  # a failed measurement is not a point
    assert len(fit.points) == 5
    for gflops in (0.7, 1.2):  # a busy machine's wild readings do not bend the line
        fit.add(gflops, 2 * (4.0 + 3.0 * gflops))
    assert fit.coefficients() == pytest.approx((4.0, 3.0), abs=0.2)
    flat = LatencyFit(base_gflops=2.0, base_latency_ms=10.0)
    flat.add(1.0, 12.0)  # slower when smaller: no usable line, proportional
    assert flat.coefficients() == pytest.approx((0.0, 5.0))


@pytest.mark.parametrize("width, round_to, min_channels, ratio_range", [
    (8, 8, 8, (0.125, 1.0)), (32, 8, 8, (0.125, 1.0)), (20, 8, 8, (0.125, 1.0)),
    (256, 8, 8, (0.125, 1.0)), (48, 8, 12, (0.125, 1.0)), (64, 1, 1, (0.3, 0.9)),
])
def test_ratio_bins_partition_the_ratios_by_kept_channels(width, round_to, min_channels,
                                                          ratio_range):
    rules = PruneSpec(round_to=round_to, min_channels=min_channels)
    lo, hi = ratio_range
    bins = ratio_bins(width, rules, lo, hi)
    assert (np.diff(bins.kept) > 0).all()
    for j, kept in enumerate(bins.kept):  # each bin's recorded ratio keeps the bin's count
        assert lo <= bins.ratio[j] <= hi
        assert rules.kept_channels(width, bins.ratio[j]) == kept
    for r in np.linspace(-0.5, 1.5, 801):  # and every raw ratio lands in the right bin
        expected = rules.kept_channels(width, float(np.clip(r, lo, hi)))
        assert bins.kept[bins.index(r)] == expected


def test_bin_probabilities_sum_to_one_and_have_gradients():
    bins = ratio_bins(64, PruneSpec(), 0.125, 1.0)
    lower, upper = torch.tensor(bins.lower), torch.tensor(bins.upper)
    for mean, std in ((0.5, 0.1), (0.13, 0.02), (0.99, 0.3), (0.7, 0.5)):
        m = torch.tensor(mean, requires_grad=True)
        s = torch.tensor(std, requires_grad=True)
        log_p = binned_normal_log_prob(m.expand(len(lower)), s, lower, upper)
        assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
        log_p[len(lower) // 2].backward()
        assert torch.isfinite(m.grad) and torch.isfinite(s.grad)


def test_sampling_matches_the_log_probabilities():
    ctx = context()
    table = DecisionTable(ctx)
    n = len(table)
    logits = torch.full((n,), -1.0)
    means = torch.full((n,), 0.55)
    std = torch.tensor(0.15)
    generator = torch.Generator().manual_seed(0)
    position = int(table.channel_positions[-1])  # a wide head group, many bins
    bins = table.bins[position]
    counts = np.zeros(len(bins.kept))
    samples = 1500
    for _ in range(samples):
        _, ratios = sample_decisions(table, logits, means, std, generator, [position])
        counts[bins.index(ratios[position])] += 1
    expected = binned_normal_log_prob(means[:len(bins.kept)], std, torch.tensor(bins.lower),
                                      torch.tensor(bins.upper)).exp().numpy()
    assert np.abs(counts / samples - expected).max() < 0.04


def test_decision_table_round_trip_and_canonical_specs():
    ctx = context()
    table = DecisionTable(ctx)
    space = ctx.space
    rng = np.random.default_rng(0)
    drop = table.is_block & (rng.random(len(table)) < 0.3)
    ratios = rng.uniform(0.1, 1.1, len(table))
    spec = table.to_spec(drop, ratios)
    space.resolve(spec)
    assert (spec.round_to, spec.min_channels) == (ctx.round_to, ctx.min_channels)
    dropped = set(spec.drop_blocks)
    for key, _ in spec.ratios:  # no ratio for a group its dropped block removes
        assert space.group_of(key).block not in dropped
    back_drop, back_ratios = table.from_spec(spec)
    assert (back_drop == drop).all()
    active = table.active_channels(drop)
    snapped = [table.snap(p, ratios[p]) for p in np.flatnonzero(active)]
    assert np.allclose(back_ratios[active], snapped)
    assert table.to_spec(back_drop, back_ratios).hash == spec.hash
    # a spec written by hand, keyed by a coupled (non-key) producer layer, decodes the same
    group = next(g for g in space.groups if len(g.layers) > 1 and g.width >= 32)
    by_hand = PruneSpec.create(ratios={group.layers[-1]: 0.5})
    _, decoded = table.from_spec(by_hand)
    position = next(p for p, d in enumerate(table.decisions) if d.index == group.key)
    assert decoded[position] == pytest.approx(0.5)


def test_log_prob_ignores_groups_of_dropped_blocks():
    ctx = context()
    table = DecisionTable(ctx)
    n = len(table)
    drop = np.zeros(n, dtype=bool)
    owned = next(p for p in range(n) if table.owner[p] >= 0 and table.groups[p].width >= 32)
    drop[table.owner[owned]] = True
    logits, means, std = torch.zeros(n), torch.full((n,), 0.5), torch.tensor(0.1)
    ratios = np.ones(n)
    base, _ = decisions_log_prob(table, logits, means, std, drop, ratios)
    ratios[owned] = 0.25
    changed, _ = decisions_log_prob(table, logits, means, std, drop, ratios)
    assert changed.item() == pytest.approx(base.item())


def test_features_and_layer_graph():
    ctx = context()
    table = DecisionTable(ctx)
    features = decision_features(table, CostModel(ctx.space))
    assert features.shape == (len(table), len(DECISION_FEATURES))
    assert np.isfinite(features).all() and features[:, 5].max() == pytest.approx(1.0)
    graph = layer_graph(table)
    layers = len(ctx.space.cfg.layers)
    assert graph.features.shape == (layers, len(NODE_FEATURES))
    assert np.allclose(graph.adjacency, graph.adjacency.T)
    # a shortcut and a route connect the layers they read
    shortcut = ctx.space.blocks[0].end
    for source in ctx.space.cfg.source_indices(shortcut):
        assert graph.adjacency[shortcut, source] > 0
    assert len(graph.members) == len(table)
    assert all(graph.members)


def test_the_old_name_of_the_reward_average_decay_still_works_with_a_warning(capsys):
    """"baseline" names the baseline agents only; the moving average of rewards is an
    average, and its decay's old option name is a deprecated spelling."""
    declared = {"average_decay": Option(0.8, "", 0.0, 1.0)}
    assert read_options("abcp", declared, {"baseline_decay": 0.5}) == {"average_decay": 0.5}
    assert "agent option baseline_decay is deprecated" in capsys.readouterr().err
    with pytest.raises(EdgepruneError, match="give option average_decay only"):
        read_options("abcp", declared, {"baseline_decay": 0.5, "average_decay": 0.6})


def test_options_are_checked():
    declared = {"lr": Option(0.01, "", 0.0, 1.0), "hidden": Option(8, "", 1, 64),
                "flag": Option(True, "")}
    assert read_options("x", declared, {}) == {"lr": 0.01, "hidden": 8, "flag": True}
    assert read_options("x", declared, {"lr": "0.5", "hidden": 16.0, "flag": "no"}) == \
        {"lr": 0.5, "hidden": 16, "flag": False}
    with pytest.raises(EdgepruneError, match="has no option 'lrr'.*flag, hidden, lr"):
        read_options("x", declared, {"lrr": 1})
    with pytest.raises(EdgepruneError, match="hidden=2.5: expected a whole number"):
        read_options("x", declared, {"hidden": 2.5})
    with pytest.raises(EdgepruneError, match="lr='abc': expected a number"):
        read_options("x", declared, {"lr": "abc"})
    with pytest.raises(EdgepruneError, match="flag='maybe': expected true or false"):
        read_options("x", declared, {"flag": "maybe"})
    with pytest.raises(EdgepruneError, match=r"lr=2.0 is outside \[0.0, 1.0\]"):
        read_options("x", declared, {"lr": 2})
    with pytest.raises(EdgepruneError, match="agent 'gcn' has no option 'spread'"):
        create_agent("gcn", context(options={"spread": 0.2}))


def test_agents_compute_on_one_thread_and_restore_the_callers_threads():
    from edgeprune.search.agents.policy import one_thread

    seen = []

    @one_thread
    def work():
        seen.append(torch.get_num_threads())

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        work()
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["abcp", "gcn", "purl"])
def test_the_centre_aims_below_the_target_while_candidates_miss_it(name):
    from tests.search.agent_helpers import evaluation, new_agent

    agent = new_agent(name)
    start_centre = agent.centre
    for step in range(8):  # every candidate over the 10 ms target
        spec = agent.propose(step)
        agent.observe(evaluation(spec, step, -0.2, latency_ms=12.0, gflops=0.6))
    assert agent.aim < 0.75 and agent.centre < start_centre
    low = agent.aim
    for step in range(8, 32):  # now every candidate within it
        spec = agent.propose(step)
        agent.observe(evaluation(spec, step, 0.5, latency_ms=8.0, gflops=0.4))
    assert agent.aim > low and agent.aim == pytest.approx(1.0)
    fixed = new_agent(name, options={"feasible_share": 0})
    for step in range(8):
        spec = fixed.propose(step)
        fixed.observe(evaluation(spec, step, -0.2, latency_ms=12.0, gflops=0.6))
    assert fixed.aim == 1.0  # feasible_share 0: the centre aims at the target itself
