"""Rounds: the candidates an agent proposes together (the search's `round_size`), normalized
to the search's rules, and the recorded rounds replayed into a fresh agent on resume.

Replay proposes round after round exactly as the first session did (same seed, same round
size, same budget, so the same boundaries) and checks every spec against the record; the
last round may be only partly recorded (the driver died in its middle), and is handed back
for the loop to finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.prune.space import PruneSpace
from edgeprune.prune.spec import PruneSpec
from edgeprune.search.agents.base import SearchAgent
from edgeprune.search.candidate import Candidate
from edgeprune.search.settings import SearchSettings


@dataclass(frozen=True)
class Round:
    """Specs proposed together, for steps first, first + 1, ..."""

    first: int
    specs: list[PruneSpec]

    @property
    def end(self) -> int:
        return self.first + len(self.specs)


def propose_round(agent: SearchAgent, settings: SearchSettings, space: PruneSpace,
                  first: int) -> Round:
    """The agent's next round (at most round_size, never past the budget), normalized."""
    size = min(settings.round_size, settings.budget - first)
    specs = agent.propose_round(first, size)
    if not isinstance(specs, list) or not 1 <= len(specs) <= size:
        raise EdgepruneError(f"agent {settings.agent!r} proposed "
                             f"{len(specs) if isinstance(specs, list) else specs!r} specs at "
                             f"step {first}, not a list of 1 to {size}")
    normalized = []
    for step, spec in enumerate(specs, first):
        if not isinstance(spec, PruneSpec):
            raise EdgepruneError(f"agent {settings.agent!r} proposed {type(spec).__name__} "
                                 f"at step {step}, not a PruneSpec")
        spec = spec.replace(round_to=settings.round_to, min_channels=settings.min_channels,
                            source=f"agent {settings.agent} step {step}")
        normalized.append(space.normalize(spec))
    return Round(first, normalized)


def replay_rounds(agent: SearchAgent, settings: SearchSettings, space: PruneSpace,
                  records: list[Candidate], log: Path) -> Round | None:
    """Feed the recorded rounds to the agent; the last round when only part of it was
    recorded (the rest is evaluated next), else None."""
    step = 0
    while step < len(records):
        proposed = propose_round(agent, settings, space, step)
        recorded = records[proposed.first:proposed.end]
        for record, spec in zip(recorded, proposed.specs, strict=False):
            if spec.hash != record.spec_hash:
                raise EdgepruneError(
                    f"{log}: replaying step {record.step}, agent {settings.agent!r} proposed "
                    f"a different spec than the one recorded (was the agent changed, or is it "
                    f"not deterministic?); the run cannot be resumed faithfully")
        if len(recorded) < len(proposed.specs):
            return proposed
        for record in recorded:
            agent.observe(record)
        step = proposed.end
    return None
