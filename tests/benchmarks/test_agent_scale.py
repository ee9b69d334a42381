"""The agent-scale sweep's rule for keeping a setting, as written before its run: a setting
replaces an agent's default only when its mean best reward beats the default's by more than
the larger of the two seed spreads."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from agent_scale import choices, run_name  # noqa: E402


def summary(**best: tuple[float, float]) -> dict:
    return {name: {"best": {300: pair}} for name, pair in best.items()}


def test_a_setting_replaces_the_default_only_beyond_the_seed_spread():
    clear = summary(**{"abcp": (0.50, 0.01), "abcp lr 0.03": (0.56, 0.02),
                       "rlpruner": (0.40, 0.01), "rlpruner lr 0.03": (0.41, 0.03)})
    assert choices(clear, 300) == {"abcp": "abcp lr 0.03", "rlpruner": "rlpruner"}


def test_within_the_spread_the_default_stays():
    noisy = summary(**{"abcp": (0.50, 0.04), "abcp rounds of 8": (0.53, 0.01),
                       "random": (0.60, 0.0)})
    assert choices(noisy, 300) == {"abcp": "abcp"}  # random is a reference, never chosen


def test_run_names_are_folder_names():
    assert run_name("abcp lr 0.003, average 0.95", 1) == "abcp-lr-0.003-average-0.95-s1"
