"""Who evaluates a round of candidates: the search loop hands its executor the round's jobs and
gets each Candidate back as it is ready, in any order; the loop alone writes
the run folder, in step order.

- `LocalExecutor` (the default): in this process, one candidate after another, through
  `SearchEnvironment.evaluate`: what a search without a cluster has always done.
- `RayExecutor` (edgeprune.search.cluster, `edgeprune search --cluster`): accuracy on Ray
  worker actors, latency on one actor per device, side by side.

A job whose network was evaluated before (same architecture hash) carries the known accuracy
(`known_accuracy`, from an earlier record) or the step of an earlier job of the same round
(`same_as`): either way its accuracy is not computed again and its latency comes from the
cache, so a round's records are the same whichever executor ran it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from edgeprune.prune.apply import PrunePlan
from edgeprune.prune.spec import PruneSpec
from edgeprune.search.candidate import Candidate
from edgeprune.search.environment import SearchEnvironment
from edgeprune.search.measuring import Decide


@dataclass(frozen=True)
class Job:
    step: int
    spec: PruneSpec
    arch_hash: str
    known_accuracy: float | None = None  # an earlier record's, same network
    known_parts: dict | None = None  # and its robust parts, when the search has them
    same_as: int | None = None  # an earlier job of this round with the same network
    repeat_of: int | None = None  # the step whose network this is: known_accuracy's or same_as
    plan: PrunePlan | None = None  # the spec's architecture plan, made once (environment.plan)


class Executor(ABC):
    """Evaluates jobs. `start` is called once the environment exists (the base measured),
    before the first round; `close` always, at the end."""

    def start(self, env: SearchEnvironment, settings, token: str | None,  # noqa: B027
              measured) -> None:
        """Set up workers (`measured`: the base as measured); the local executor needs
        nothing."""

    @abstractmethod
    def evaluate(self, env: SearchEnvironment, jobs: list[Job],
                 decide_for: Callable[[int], Decide] | None = None
                 ) -> Iterator[tuple[int, Candidate]]:
        """(step, result) for every job, in any order. `decide_for(step)`: the latency
        model's decision for a job whose network is not in the cache, once its accuracy is
        known (measure it, or score it by the prediction); None: measure every job."""

    def describe(self) -> str:
        return "this process"

    def close(self) -> None:  # noqa: B027
        """Release workers."""


class LocalExecutor(Executor):
    def evaluate(self, env: SearchEnvironment, jobs: list[Job],
                 decide_for: Callable[[int], Decide] | None = None
                 ) -> Iterator[tuple[int, Candidate]]:
        done: dict[int, Candidate] = {}
        for job in jobs:
            earlier = done.get(job.same_as) if job.same_as is not None else None
            known = earlier.accuracy if earlier else job.known_accuracy
            known_parts = earlier.accuracy_parts if earlier else job.known_parts
            decide = decide_for(job.step) if decide_for is not None else None
            done[job.step] = env.evaluate(job.spec, known, job.plan, decide, known_parts)
            yield job.step, done[job.step]
