"""RayExecutor: a search round's accuracy evaluations on worker actors, its latency measurements
on one actor per device, side by side (search/scheduler.py decides who runs what).

The driver keeps the run's latency cache: a network measured before is answered from it and
never sent to a device; a fresh measurement is stored as it arrives, under the pool's device
identity, which every device of the pool must share with the device the base was measured on.
Actors restart when their process dies (a killed worker, a crash): the task it held runs again
on the next free actor, and the loop records each candidate once, whoever ran it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Hashable, Iterator

from rich.console import Console

from edgeprune.errors import EdgepruneError
from edgeprune.latency.cache import CacheKey
from edgeprune.latency.profiles import resolve_profile
from edgeprune.latency.result import LatencyResult
from edgeprune.search.candidate import Candidate
from edgeprune.search.cluster.actors import AccuracyWorker, DeviceActor, DeviceGone
from edgeprune.search.cluster.connect import (
    ClusterOptions,
    connect,
    free_worker_slots,
    import_ray,
)
from edgeprune.search.environment import SearchEnvironment
from edgeprune.search.executor import Executor, Job
from edgeprune.search.measuring import Decide, Decision
from edgeprune.search.scheduler import (
    ACCURACY,
    LATENCY,
    Outcome,
    Report,
    Scheduler,
    Task,
)

RESTARTS = 2  # an actor whose process dies is restarted this many times, then given up
START_TIMEOUT_S = 600.0  # workers load the base and the data; a cluster may add nodes


def device_resource(profile_name: str) -> str:
    """The custom resource a device's actor holds: one unit per physical board."""
    return "device:" + re.sub(r"[^A-Za-z0-9._-]+", "-", profile_name.split("://")[-1])


class RayRunner:
    """The scheduler's Runner on Ray actors. A member's process that dies mid-task is LOST
    (Ray restarts it) until it has died more often than it is restarted: then GONE."""

    def __init__(self, ray, names: dict[Hashable, str], pids: dict[Hashable, int]) -> None:
        self.ray = ray
        self.names = names
        self.pids = pids  # worker -> its process id, as last reported
        self.deaths: dict[Hashable, int] = {}
        self.running: dict[Hashable, Hashable] = {}  # object ref -> member

    def start(self, task: Task, member: Hashable) -> Hashable:
        if task.pool == ACCURACY:
            ref = member.accuracy.remote(task.payload)
        else:
            ref = member.measure.remote(*task.payload)
        self.running[ref] = member
        return ref

    def wait(self, handles: list[Hashable]) -> list[Report]:
        from ray.exceptions import RayActorError, RayTaskError

        ready, _ = self.ray.wait(handles, num_returns=1)
        reports = []
        for ref in ready:
            member = self.running.pop(ref)
            try:
                value = self.ray.get(ref)
                reports.append(Report(ref, Outcome.DONE, value))
                self.deaths[member] = 0
                if member in self.pids:
                    self.pids[member] = value[2]  # a restarted worker has a new process
            except RayActorError as exc:
                self.deaths[member] = self.deaths.get(member, 0) + 1
                outcome = Outcome.GONE if self.deaths[member] > RESTARTS else Outcome.LOST
                reports.append(Report(ref, outcome, reason=_first_line(exc)))
            except RayTaskError as exc:
                if isinstance(exc.cause, DeviceGone):
                    reports.append(Report(ref, Outcome.GONE, reason=str(exc.cause)))
                elif isinstance(exc.cause, EdgepruneError):
                    raise type(exc.cause)(str(exc.cause)) from None
                else:
                    raise
        return reports

    def name(self, member: Hashable) -> str:
        return self.names[member]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class RayExecutor(Executor):
    def __init__(self, options: ClusterOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console(stderr=True)
        self.ray = None
        self.owns_connection = False
        self.workers: list = []
        self.devices: list = []
        self.worker_pids: dict[Hashable, int] = {}
        self.scheduler: Scheduler | None = None
        self.runner: RayRunner | None = None
        self.pool_key: tuple[str, str] | None = None

    # ---------------------------------------------------------------------------- start

    def start(self, env: SearchEnvironment, settings, token: str | None, measured) -> None:
        ray = self.ray = import_ray()
        members = resolve_profile(settings.device).members()
        resource = device_resource(resolve_profile(settings.device).name)
        self.owns_connection = connect(self.options, {resource: len(members)})
        if self.owns_connection:
            import atexit

            atexit.register(self.close)  # a driver that dies on an error still leaves
        offered = ray.cluster_resources().get(resource, 0)
        device_options = {"num_cpus": 0, "max_restarts": RESTARTS}
        if offered >= 1:
            device_options["resources"] = {resource: 1}
        else:
            self.console.print(f"[dim]the cluster offers no {resource} resource: each device "
                               f"still has one actor of this search, but another search may "
                               f"measure on it at the same time[/]", highlight=False)
        Device = ray.remote(DeviceActor)
        names: dict[Hashable, str] = {}
        for member in members:
            options = dict(device_options)
            if not member.server:  # the local device is the driver's own CPU or GPU
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                    ray.get_runtime_context().get_node_id(), soft=False)
            actor = Device.options(**options).remote(
                member, token, settings.protocol, settings.precision, settings.threads,
                env.base.model.cfg if settings.interleave else None)
            self.devices.append(actor)
            names[actor] = f"device {member.server or member.name}"
        self._check_pool(measured, names)

        count = self.options.workers or free_worker_slots(self.options)
        Worker = ray.remote(AccuracyWorker).options(num_cpus=self.options.worker_cpus,
                                                    max_restarts=RESTARTS)
        self.workers = [Worker.remote(settings, self.options.worker_cpus) for _ in range(count)]
        pids = self._wait(ray, [w.ready.remote() for w in self.workers],
                          f"{count} accuracy worker(s) of {self.options.worker_cpus} CPU(s)")
        for index, (worker, pid) in enumerate(zip(self.workers, pids, strict=True)):
            self.worker_pids[worker] = pid
            names[worker] = f"accuracy worker {index + 1}"
        self.runner = RayRunner(ray, names, self.worker_pids)
        self.scheduler = Scheduler(self.runner, {ACCURACY: self.workers,
                                                 LATENCY: self.devices},
                                   max_attempts=RESTARTS + 2, notify=self._notify)
        self.console.print(f"evaluating on {self.describe()}", highlight=False)
        if settings.round_size < count:
            self.console.print(f"[yellow]note:[/] --round-size {settings.round_size} keeps at "
                               f"most {settings.round_size} of the {count} workers busy",
                               highlight=False)

    def _check_pool(self, measured, names: dict) -> None:
        """The devices that answer must all be the device the base was measured on (same
        backend and version, same identity), else their numbers cannot be compared; one that
        does not answer is left out."""
        ray = self.ray
        base = LatencyResult.from_json(measured.latency)
        expected = (f"{base.backend} {base.backend_version}", base.device.key())
        alive = []
        for actor in list(self.devices):
            try:
                info = self._wait(ray, [actor.info.remote()], names[actor])[0]
            except DeviceGone as exc:
                self.console.print(f"[yellow]{names[actor]} does not answer ({exc}); the pool "
                                   f"goes on without it[/]", highlight=False)
                ray.kill(actor)
                continue
            if (info["backend_key"], info["identity"]) != expected:
                raise EdgepruneError(
                    f"{names[actor]} measures with {info['backend_key']} on "
                    f"{info['describe']}, but the base was measured with {expected[0]} on "
                    f"{base.device.describe()}: a pool must be identical boards")
            alive.append(actor)
        if not alive:
            raise EdgepruneError("no device of the pool answers; is `edgeprune device serve` "
                                 "running on them?")
        self.devices = alive
        self.pool_key = expected

    def _wait(self, ray, refs: list, what: str) -> list:
        from ray.exceptions import GetTimeoutError, RayTaskError

        try:
            return ray.get(refs, timeout=START_TIMEOUT_S)
        except GetTimeoutError:
            raise EdgepruneError(f"the cluster did not start {what} within "
                                 f"{START_TIMEOUT_S:.0f} s (free: "
                                 f"{ray.available_resources()})") from None
        except RayTaskError as exc:
            if isinstance(exc.cause, EdgepruneError):
                raise exc.cause from None
            raise

    def _notify(self, message: str) -> None:
        self.console.print(f"[yellow]{message}[/]", highlight=False)

    def describe(self) -> str:
        return (f"{len(self.workers)} accuracy worker(s) and {len(self.devices)} device(s) "
                f"on the Ray cluster {self.options.address}")

    def busy_worker_pids(self) -> list[int]:
        """Process ids of the workers evaluating a candidate now (what a fault test kills)."""
        running = list(self.runner.running.values()) if self.runner else []
        return [self.worker_pids[m] for m in running if m in self.worker_pids]

    # ---------------------------------------------------------------------------- rounds

    def evaluate(self, env: SearchEnvironment, jobs: list[Job],
                 decide_for: Callable[[int], Decide] | None = None
                 ) -> Iterator[tuple[int, Candidate]]:
        cache = env.meter.cache
        latency: dict[int, tuple[object, float]] = {}
        accuracy: dict[int, tuple[float, float]] = {}
        parts: dict[int, dict | None] = {}  # with a robust accuracy, its scores part by part
        decisions: dict[int, Decision] = {}
        undecided: set[int] = set()  # waiting for their accuracy, then the latency model
        cfgs = {}
        tasks = []

        def decide(step: int) -> Task | None:
            """The model's decision once the accuracy is known: a latency task, or none."""
            decision = decide_for(step)(cfgs[step], accuracy[step][0])
            decisions[step] = decision
            if decision.measure:
                return Task(LATENCY, step, (cfgs[step], env.input_shape))
            latency[step] = (None, 0.0)
            return None

        for job in jobs:
            if job.same_as is not None:
                continue
            cfgs[job.step] = cfg = job.plan.cfg if job.plan else env.pruned_cfg(job.spec)
            cached = cache.get(self._key(env, job.arch_hash)) if cache is not None else None
            if job.known_accuracy is not None:
                accuracy[job.step] = (job.known_accuracy, 0.0)
                parts[job.step] = job.known_parts
            else:
                tasks.append(Task(ACCURACY, job.step, job.spec))
            if cached is not None:
                latency[job.step] = (cached, 0.0)
            elif decide_for is None:
                tasks.append(Task(LATENCY, job.step, (cfg, env.input_shape)))
            elif job.step in accuracy:
                tasks.extend(task for task in [decide(job.step)] if task)
            else:
                undecided.add(job.step)
        waiting = list(jobs)
        arch_hashes = {job.step: job.arch_hash for job in jobs}

        def finished() -> Iterator[tuple[int, Candidate]]:
            for job in list(waiting):
                origin = job.same_as if job.same_as is not None else job.step
                if origin not in latency or origin not in accuracy:
                    continue
                waiting.remove(job)
                result, latency_s = latency[origin]
                value, accuracy_s = accuracy[origin]
                if job.same_as is not None:  # what the cache and the record would give
                    result = result and dataclasses.replace(result, from_cache=True)
                    latency_s = accuracy_s = 0.0
                yield job.step, env.result(job.spec, cfgs[origin], value, result, accuracy_s,
                                           latency_s, decisions.get(origin), parts.get(origin))

        yield from finished()
        for task, value in self.scheduler.run(tasks):
            if task.pool == LATENCY:
                result, seconds = value
                if cache is not None:
                    cache.put(self._key(env, arch_hashes[task.step]), result)
                latency[task.step] = (result, seconds)
            else:
                scores, seconds, _ = value
                accuracy[task.step] = (env.combine(scores), seconds)
                parts[task.step] = scores
                if task.step in undecided:
                    undecided.discard(task.step)
                    if (latency_task := decide(task.step)) is not None:
                        self.scheduler.submit(latency_task)
            yield from finished()

    def _key(self, env: SearchEnvironment, arch_hash: str) -> CacheKey:
        """The cache key the driver's meter would use, under the pool's identity."""
        backend_key, identity = self.pool_key
        return CacheKey(env.meter.keyed_hash(arch_hash), tuple(env.input_shape),
                        env.meter.precision, backend_key, identity)

    # ---------------------------------------------------------------------------- the end

    def close(self) -> None:
        ray, self.ray = self.ray, None
        if ray is None or not ray.is_initialized():
            return
        for actor in [*self.workers, *self.devices]:
            with contextlib.suppress(Exception):  # already gone, with its node
                ray.kill(actor)
        self.workers, self.devices = [], []
        if self.owns_connection:
            ray.shutdown()
