"""The scheduler on a simulated clock (what the scaling benchmark replays costs through):
every worker kept busy, a device measuring one model at a time, the round as long as its
critical path."""

from __future__ import annotations

import pytest

from edgeprune.search.scheduler import ACCURACY, LATENCY, Scheduler, SimulatedRunner, Task


def makespan(accuracy_s: float, latency_s: float, candidates: int, workers: int,
             devices: int) -> tuple[float, list[tuple[str, int]]]:
    runner = SimulatedRunner(lambda task: accuracy_s if task.pool == ACCURACY else latency_s)
    scheduler = Scheduler(runner, {ACCURACY: list(range(workers)),
                                   LATENCY: list(range(devices))})
    tasks = [Task(pool, step) for step in range(candidates) for pool in (ACCURACY, LATENCY)]
    done = [(task.pool, task.step) for task, _ in scheduler.run(tasks)]
    return runner.now, done


@pytest.mark.parametrize(("workers", "devices", "expected"), [
    (1, 1, 8.0),  # accuracy-bound: 8 x 1 s on one worker
    (2, 1, 4.0),
    (8, 1, 4.0),  # now the device is the bottleneck: 8 x 0.5 s
    (8, 2, 2.0),
    (8, 8, 1.0),  # one round of parallel candidates lasts as long as its slowest half
])
def test_rounds_take_their_critical_path(workers, devices, expected):
    seconds, done = makespan(1.0, 0.5, 8, workers, devices)
    assert seconds == pytest.approx(expected)
    assert sorted(done) == sorted((pool, step) for step in range(8)
                                  for pool in (ACCURACY, LATENCY))  # each once
