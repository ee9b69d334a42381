"""Dispatching a round's work: accuracy tasks onto workers, latency tasks onto devices.

The scheduler keeps one queue per pool ("accuracy": the worker actors, "latency": one actor per
device) and gives each idle member the oldest waiting task of its pool, so a device measures
one model at a time and every worker is kept busy while there is work. A member that died
mid-task (a killed worker process: `LOST`) gets its task taken back and given to the next idle
member, itself included once it has been restarted; a member that will not come back (a
device server that went away: `GONE`) leaves its pool, which carries on with the rest, and the
run stops with a clear message when a pool has no member left. A task lost `max_attempts`
times stops the run too: something kills whatever runs it.

It knows nothing of Ray. A `Runner` starts tasks and reports what became of them:
`RayRunner` (cluster/executor.py) with actors, `SimulatedRunner` (below) with a clock and
recorded costs, so the scaling benchmark's simulation runs this very code.
"""

from __future__ import annotations

import enum
import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from edgeprune.errors import EdgepruneError

ACCURACY, LATENCY = "accuracy", "latency"


@dataclass
class Task:
    pool: str  # ACCURACY or LATENCY
    step: int
    payload: object = None
    attempts: int = 0


class Outcome(enum.Enum):
    DONE = "done"
    LOST = "lost"  # the member died mid-task and may come back (a restarted actor)
    GONE = "gone"  # the member will not come back


@dataclass
class Report:
    handle: Hashable
    outcome: Outcome
    value: object = None
    reason: str = ""


class Runner(Protocol):
    def start(self, task: Task, member: Hashable) -> Hashable:
        """Start `task` on `member`; a handle to wait on."""

    def wait(self, handles: list[Hashable]) -> list[Report]:
        """Block until at least one of `handles` has finished; their reports. A task that
        fails for a reason of its own (not its member's) raises."""

    def name(self, member: Hashable) -> str:
        """How messages call `member`."""


@dataclass
class Pool:
    kind: str
    members: list[Hashable]
    idle: deque = field(default_factory=deque)
    queue: deque = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.idle.extend(self.members)


class Scheduler:
    def __init__(self, runner: Runner, pools: dict[str, list[Hashable]], *,
                 max_attempts: int = 3, notify: Callable[[str], None] | None = None) -> None:
        self.runner = runner
        self.pools = {kind: Pool(kind, list(members)) for kind, members in pools.items()}
        self.max_attempts = max_attempts
        self.notify = notify or (lambda message: None)
        self.lost = 0  # tasks taken back from a dead member, over this scheduler's life
        self.gone: list[str] = []  # members that left their pool

    def submit(self, task: Task) -> None:
        """Queue `task` while `run` is running (between the values it yields): a latency
        task decided once its accuracy is known."""
        self._pool(task.pool).queue.append(task)

    def run(self, tasks: list[Task]) -> Iterator[tuple[Task, object]]:
        """(task, value) as each task finishes; `submit` may add tasks meanwhile."""
        for task in tasks:
            self._pool(task.pool).queue.append(task)
        running: dict[Hashable, tuple[Task, Hashable]] = {}
        while running or any(pool.queue for pool in self.pools.values()):
            for pool in self.pools.values():
                while pool.queue and pool.idle:
                    task, member = pool.queue.popleft(), pool.idle.popleft()
                    task.attempts += 1
                    running[self.runner.start(task, member)] = (task, member)
            for report in self.runner.wait(list(running)):
                task, member = running.pop(report.handle)
                pool = self.pools[task.pool]
                if report.outcome is Outcome.DONE:
                    pool.idle.append(member)
                    yield task, report.value
                    continue
                self._take_back(task, member, report)

    def _take_back(self, task: Task, member: Hashable, report: Report) -> None:
        pool = self.pools[task.pool]
        name = self.runner.name(member)
        self.lost += 1
        if report.outcome is Outcome.GONE:
            pool.members.remove(member)
            self.gone.append(name)
            if not pool.members:
                raise EdgepruneError(f"no {pool.kind} {_member_word(pool.kind)} left: {name} "
                                     f"went away ({report.reason}); the search stops here, "
                                     f"--resume it once they are back")
            what = (f"went away ({report.reason}); continuing on the other "
                    f"{len(pool.members)}")
        else:
            pool.idle.append(member)  # its restarted process takes calls again
            what = f"was lost ({report.reason})"
        if task.attempts >= self.max_attempts:
            raise EdgepruneError(f"step {task.step}: its {task.pool} task was lost "
                                 f"{task.attempts} times (last on {name}: {report.reason})")
        self.notify(f"{name} {what}; step {task.step}'s {task.pool} runs again")
        pool.queue.appendleft(task)

    def _pool(self, kind: str) -> Pool:
        if kind not in self.pools:
            raise EdgepruneError(f"no {kind} pool to run step tasks on")
        return self.pools[kind]


def _member_word(kind: str) -> str:
    return "devices" if kind == LATENCY else "workers"


class SimulatedRunner:
    """Runs tasks on a clock: a task on any member takes `cost(task)` seconds. What the scaling
    benchmark replays recorded costs through."""

    def __init__(self, cost: Callable[[Task], float]) -> None:
        self.cost = cost
        self.now = 0.0
        self._finishing: list[tuple[float, int, Hashable]] = []
        self._count = 0

    def start(self, task: Task, member: Hashable) -> Hashable:
        self._count += 1
        handle = (task.pool, task.step, self._count)
        heapq.heappush(self._finishing, (self.now + self.cost(task), self._count, handle))
        return handle

    def wait(self, handles: list[Hashable]) -> list[Report]:
        finish, _, handle = heapq.heappop(self._finishing)
        self.now = max(self.now, finish)
        return [Report(handle, Outcome.DONE)]

    def name(self, member: Hashable) -> str:
        return str(member)
