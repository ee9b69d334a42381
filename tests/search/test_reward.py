"""Reward math, latency targets and what makes a target impossible."""

import math

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.search.reward import RewardConfig, flops_cost_ms, meets_target, reward
from edgeprune.search.target import Target, check_reachable, parse_latency_ms

SOFT = RewardConfig(kind="soft")
HARD = RewardConfig(kind="hard")


def test_soft_reward_is_mnasnet_formula():
    assert reward(0.6, 8.0, 10.0, SOFT) == pytest.approx(0.6)  # alpha 0: no bonus for speed
    assert reward(0.6, 20.0, 10.0, SOFT) == pytest.approx(0.6 * 2 ** -0.5)
    assert reward(0.6, 11.0, 10.0, SOFT) == pytest.approx(0.6 * 1.1 ** -0.5)
    pair = RewardConfig(kind="soft", alpha=-0.07, beta=-0.07)
    assert reward(0.5, 5.0, 10.0, pair) == pytest.approx(0.5 * 0.5 ** -0.07)
    assert reward(0.5, 20.0, 10.0, pair) == pytest.approx(0.5 * 2 ** -0.07)


def test_soft_reward_orders_by_latency_at_equal_accuracy_over_the_target():
    rewards = [reward(0.5, latency, 10.0, SOFT) for latency in (10.0, 12.0, 15.0, 30.0)]
    assert rewards == sorted(rewards, reverse=True) and len(set(rewards)) == 4


def test_hard_reward_is_accuracy_within_budget_and_an_ordered_penalty_beyond():
    assert reward(0.42, 9.99, 10.0, HARD) == 0.42
    assert reward(0.42, 10.0, 10.0, HARD) == 0.42
    misses = [reward(0.9, latency, 10.0, HARD) for latency in (10.5, 12.0, 20.0)]
    assert misses == pytest.approx([-0.05, -0.2, -1.0])
    # every infeasible candidate scores below any feasible one, even at zero accuracy
    assert max(misses) < reward(0.0, 9.0, 10.0, HARD)
    assert reward(0.9, 12.0, 10.0, RewardConfig(kind="hard", penalty=3)) == pytest.approx(-0.6)


def test_tolerance_widens_what_meets_the_target():
    loose = RewardConfig(kind="hard", tolerance=0.05)
    assert meets_target(10.4, 10.0, loose) and not meets_target(10.6, 10.0, loose)
    assert reward(0.3, 10.4, 10.0, loose) == 0.3
    assert not meets_target(10.01, 10.0, HARD)


def test_flops_cost_scales_base_latency_by_flops():
    assert flops_cost_ms(gflops=1.0, base_gflops=4.0, base_latency_ms=20.0) == 5.0
    cost = flops_cost_ms(2.0, 4.0, 20.0)
    assert reward(0.5, cost, 8.0, SOFT) == pytest.approx(0.5 * (10 / 8) ** -0.5)


def test_bad_reward_settings_are_refused():
    with pytest.raises(EdgepruneError, match="unknown reward 'mean'"):
        RewardConfig(kind="mean")
    with pytest.raises(EdgepruneError, match="beta must be <= 0"):
        RewardConfig(beta=0.5)
    with pytest.raises(EdgepruneError, match="positive latencies"):
        reward(0.5, 0.0, 10.0, SOFT)
    assert RewardConfig.from_dict(HARD.to_dict()) == HARD
    assert "latency/target" in SOFT.describe() and "-1" in HARD.describe()


@pytest.mark.parametrize(("text", "expected"), [
    ("8ms", 8.0), ("8", 8.0), ("8.5 ms", 8.5), ("0.008s", 8.0), ("8000us", 8.0),
    (".5ms", 0.5), ("12MS", 12.0), (3, 3.0)])
def test_latency_targets_parse(text, expected):
    assert math.isclose(parse_latency_ms(text), expected)


@pytest.mark.parametrize("text", ["fast", "8 fps", "-3ms", "0ms", "", "8msec"])
def test_bad_latency_targets_are_refused(text):
    with pytest.raises(EdgepruneError, match="--target-latency"):
        parse_latency_ms(text)


def test_targets_resolve_against_the_base():
    assert Target(latency_ms=8.0).resolve_ms(30.0) == 8.0
    assert Target(speedup=3.0).resolve_ms(30.0) == 10.0
    assert Target.from_dict(Target(speedup=2.5).to_dict()) == Target(speedup=2.5)
    with pytest.raises(EdgepruneError, match="must be above 1"):
        Target(speedup=1.0)
    with pytest.raises(EdgepruneError, match="give one target"):
        Target()
    with pytest.raises(EdgepruneError, match="give one target"):
        Target(latency_ms=3.0, speedup=2.0)


def test_unreachable_targets_say_what_range_is_reachable():
    speedup, latency = Target(speedup=2.0), Target(latency_ms=1.0)
    check_reachable(speedup, 5.0, 10.0, 0.2, (0.19, 0.21), "cpu", "all", "lower --min-ratio")
    with pytest.raises(EdgepruneError, match=r"--target-latency 1ms cannot be reached.*2\.000 "
                                             r"ms .*10\.000 ms.*--target-latency 2ms is "
                                             r"accepted.*2\.1ms leaves room.*lower --min-ratio"):
        check_reachable(latency, 1.0, 10.0, 0.2, (0.19, 0.21), "cpu", "all",
                        "lower --min-ratio")
    # 1 / 0.2003 = 4.9925...: printed 4.992 (accepted typed back), never rounded up
    with pytest.raises(EdgepruneError, match=r"--target-speedup 4\.992 is accepted"):
        check_reachable(Target(speedup=6.0), 10.0 / 6, 10.0, 0.2003, (0.19, 0.21), "cpu",
                        "all", "x")
    with pytest.raises(EdgepruneError, match="already met by the base"):
        check_reachable(Target(latency_ms=12.0), 12.0, 10.0, 0.2, (0.19, 0.21), "cpu", "all",
                        "x")
