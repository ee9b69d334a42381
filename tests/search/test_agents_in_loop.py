"""The learning agents driving the real search loop: pruning, BN recalibration, mAP on
generated images, latency measured with ONNX Runtime on this CPU; and a run cut short and
resumed proposes exactly what the uninterrupted run did."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from edgeprune.models import create
from edgeprune.models.checkpoint import Checkpoint, save_checkpoint
from edgeprune.search.loop import Search
from edgeprune.search.proxy import ProxySettings
from edgeprune.search.reward import RewardConfig
from edgeprune.search.settings import SearchSettings
from edgeprune.search.target import Target
from tests.datagen_helpers import CLASSES, write_dataset
from tests.helpers import randomize_weights
from tests.search.agent_helpers import RL_AGENTS

QUICK_PROTOCOL = {"warmup_runs": 3, "warmup_seconds": 0.05, "min_runs": 10, "max_runs": 30,
                  "max_seconds": 1.0, "drift_every": 0}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: a thread pool costs more than it saves (5x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base_and_data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("agents-loop")
    data, _, _ = write_dataset(root / "data", train=16, val=8, height=64, width=64)
    model = randomize_weights(create("yolov3", num_classes=len(CLASSES), width=0.125,
                                     imgsz=64), imgsz=(64, 64))
    weights = save_checkpoint(Checkpoint(model, list(CLASSES), (64, 64), {}), root / "base.pt")
    return weights, data


def _settings(base_and_data, agent: str, budget: int) -> SearchSettings:
    weights, data = base_and_data
    # hard reward: an untrained model scores mAP 0, so the latency penalty is the signal
    return SearchSettings(weights=str(weights), data=str(data), target=Target(speedup=1.25),
                          device="cpu", threads=1, protocol=QUICK_PROTOCOL, agent=agent,
                          budget=budget, reward=RewardConfig(kind="hard"),
                          latency_mode="measure",
                          proxy_settings=ProxySettings(recal_batches=2, batch_size=4),
                          val_images=8)


@pytest.mark.slow  # agent resume is also covered by test_agents' replay tests
def test_purl_resumed_mid_episode_repeats_nothing(base_and_data, tmp_path):
    whole = Search.start(_settings(base_and_data, "purl", 5), tmp_path / "whole",
                         show_progress=False).run()
    assert len(whole.records) == 5
    for record in whole.records:
        assert record.agent == "purl" and record.latency_ms > 0
    # the same run killed after step 2 (mid-episode: purl decides 3 stages per episode)
    cut = tmp_path / "cut"
    shutil.copytree(tmp_path / "whole", cut)
    lines = (cut / "candidates.jsonl").read_text().splitlines(keepends=True)
    (cut / "candidates.jsonl").write_text("".join(lines[:2]))
    resumed = Search.resume(cut, show_progress=False).run()
    assert resumed.replayed == 2
    assert [r.spec_hash for r in resumed.records] == [r.spec_hash for r in whole.records]
    assert resumed.measured == 0  # every network was already measured (cache in the run)


@pytest.mark.slow
@pytest.mark.parametrize("name", RL_AGENTS)
def test_agent_runs_a_search(base_and_data, tmp_path, name):
    outcome = Search.start(_settings(base_and_data, name, 6), tmp_path / name,
                           show_progress=False).run()
    assert len(outcome.records) == 6
    assert outcome.files["report"].is_file()
    assert len({r.spec_hash for r in outcome.records}) > 1
