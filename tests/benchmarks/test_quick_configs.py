"""The long benchmarks' quick configurations run end to end (slow: minutes each): every piece
of the pipeline a full run uses (data, base, weight-sharing network, searches, fine-tunings,
rivals, validation, side-by-side timing, report) at toy sizes whose numbers mean nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

pytestmark = pytest.mark.slow


def run(script: str, *options: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *options],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_agent_scale_quick(tmp_path):
    out = tmp_path / "agent_scale.md"
    done = run("agent_scale.py", "--work", str(tmp_path / "work"), "--quick", "--out",
               str(out), "--settings", "random", "evolution", "abcp", "abcp rounds of 8")
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    for setting in ("| random |", "| evolution |", "| abcp |", "| abcp rounds of 8 |"):
        assert setting in text
    assert "- `abcp`: abcp" in text  # the rule picked one of abcp's settings
    assert out.with_suffix(".png").is_file()


def test_search_agents_quick_resumes_to_the_same_report(tmp_path):
    out = tmp_path / "search_agents.md"
    options = ("--work", str(tmp_path / "work"), "--quick", "--no-yolov8", "--out", str(out))
    done = run("search_agents.py", *options)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "### 1.5x" in text and "| evolution | baseline |" in text
    assert "1.5x-searched" not in text or "architecture" in text
    assert "Goals (issue 27" in text and "no YOLOv8 (--no-yolov8)" in text
    note = (tmp_path / "work" / "NOTE.md").read_text()
    assert "searches: 7/7 done" in note and "report: written" in note
    # everything finished is reused: a second invocation searches and trains nothing again
    records = sorted((tmp_path / "work").rglob("candidates.jsonl"))
    results = sorted((tmp_path / "work").rglob("results.csv"))
    stamps = {p: p.stat().st_mtime_ns for p in [*records, *results]}
    again = run("search_agents.py", *options, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(records) == 7 and {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert out.read_text().count("| evolution | baseline |") == 1


def test_regime_quick(tmp_path):
    out = tmp_path / "regime.md"
    done = run("regime.py", "--work", str(tmp_path / "work"), "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "## Regimes tried" in text and "## Goals (issue 26" in text
    assert "Kendall tau" in text


def test_robust_search_quick(tmp_path):
    out = tmp_path / "robust_search.md"
    done = run("robust_search.py", "--work", str(tmp_path / "work"), "--quick", "--out",
               str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "| clean-searched | 1 |" in text and "| robust-searched | 1 |" in text
    assert "held out (never seen by a search or a fine-tuning): shot_noise" in text
    assert "(needs 3 seeds; this run has 1)" in text  # judged only on the full design
    config = (tmp_path / "work" / "runs" / "search" / "2x-robust-s0" / "config.yaml").read_text()
    assert "gaussian_noise" in config and "shot_noise" not in config
