"""The environment's accuracy proxies, and the loop's handling of repeated networks and of an
agent that finishes before the budget."""

from __future__ import annotations

import pytest
import torch

from edgeprune.latency import Protocol, resolve_device
from edgeprune.models import load_checkpoint
from edgeprune.prune import PruneSpec, apply_spec
from edgeprune.search.agents.base import AGENTS, SearchAgent, register_agent
from edgeprune.search.environment import SearchEnvironment
from edgeprune.search.loop import Search
from edgeprune.search.proxy import ProxySettings
from edgeprune.search.settings import SearchSettings
from edgeprune.search.target import Target
from tests.latency.latency_helpers import FAST


def environment(setup, proxy: str, tmp_path) -> SearchEnvironment:
    from edgeprune.data import load_dataset

    meter = resolve_device("cpu", cache=tmp_path / "cache.sqlite", threads=1,
                           protocol=Protocol().with_overrides(FAST))
    return SearchEnvironment(
        load_checkpoint(setup.weights), meter, load_dataset(setup.data, "train"),
        load_dataset(setup.data, "val"), imgsz=(64, 64), proxy=proxy,
        proxy_settings=ProxySettings(recal_batches=2, batch_size=4, finetune_steps=2),
        val_images=4)


def test_proxies_repair_the_pruned_model(search_setup, tmp_path):
    spec = PruneSpec.create(drop_blocks=[2], default_ratio=0.5)
    recal = environment(search_setup, "bn-recal", tmp_path)
    plain = apply_spec(recal.base.model, spec)
    repaired = recal.pruned_model(spec)
    conv = next(i for i, m in enumerate(plain.layers) if hasattr(m, "bn") and m.bn is not None)
    assert torch.equal(plain.layers[conv].conv.weight, repaired.layers[conv].conv.weight)
    assert not torch.equal(plain.layers[conv].bn.running_var, repaired.layers[conv].bn.running_var)
    assert not repaired.training

    tuned = environment(search_setup, "finetune", tmp_path).pruned_model(spec)
    assert not torch.equal(plain.layers[conv].conv.weight, tuned.layers[conv].conv.weight)
    assert not tuned.training

    result = recal.evaluate(spec)
    assert 0 <= result.accuracy <= 1 and result.latency_ms > 0 and result.accuracy_seconds > 0
    assert result.gflops < 0.9 * recal.evaluate(PruneSpec()).gflops
    again = recal.evaluate(spec, known_accuracy=0.25)
    assert again.accuracy == 0.25 and again.accuracy_seconds == 0 and again.from_cache
    with pytest.raises(Exception, match="unknown accuracy proxy 'guess'"):
        environment(search_setup, "guess", tmp_path)


class Repeater(SearchAgent):
    """Proposes one network three times in different words, then a second one, then stops."""

    name = "test-repeater"

    def __init__(self, context) -> None:
        super().__init__(context)
        self.seen = []

    def propose(self, step: int) -> PruneSpec:
        block = self.context.space.blocks[1]
        inside = next(g.key for g in self.context.space.groups if g.block == block.index)
        return [self.context.spec(drop_blocks=[1]),
                self.context.spec(drop_blocks=[1], ratios={inside: 0.5}),  # same network
                PruneSpec.create(drop_blocks=[1], round_to=1),  # loop applies the run's rules
                self.context.spec(default_ratio=0.5)][step]

    def observe(self, evaluation) -> None:
        self.seen.append(evaluation)

    def finished(self) -> bool:
        return len(self.seen) == 4


@pytest.fixture
def repeater():
    register_agent(Repeater)
    yield
    AGENTS.unregister(Repeater.name)


def test_repeats_reuse_the_evaluation_and_agents_may_finish_early(search_setup, tmp_path,
                                                                  repeater):
    settings = SearchSettings(weights=str(search_setup.weights), data=str(search_setup.data),
                              target=Target(speedup=1.25), threads=1, protocol=FAST,
                              agent="test-repeater", budget=10, val_images=4,
                              latency_mode="measure",
                              proxy_settings=ProxySettings(recal_batches=2, batch_size=4))
    outcome = Search.start(settings, tmp_path / "run", show_progress=False).run()
    steps = outcome.records
    assert len(steps) == 4 and outcome.finished_early
    assert [r.repeat_of for r in steps] == [None, 0, 0, None]
    assert steps[1].spec_hash != steps[0].spec_hash and steps[1].arch_hash == steps[0].arch_hash
    assert steps[2].spec.round_to == 8  # the run's rounding, whatever the agent wrote
    assert steps[1].accuracy == steps[0].accuracy and steps[1].from_cache
    assert outcome.evaluated == 2
    assert "finished after 4 of 10" in (tmp_path / "run" / "report.md").read_text()
