"""The search loop: agent proposes, environment evaluates, the log records, the agent learns.

    search = Search.start(settings, run_dir)        # or Search.resume(run_dir)
    outcome = search.run()

A fresh search measures the base model and the most-pruned allowed network first and refuses
a target outside that range. A resumed one reads config.yaml (settings and the base's
measurements) and candidates.jsonl, replays every recorded evaluation into a fresh agent with
the same seed (checking that it proposes exactly what was recorded), and carries on from the
first step not recorded: nothing recorded is evaluated or measured again.

The agent proposes a round of `round_size` candidates at a time; the executor evaluates them
(one after another here, side by side on a cluster: executor.py) and the loop records them in
step order, then tells the agent, in step order. The round size is a setting of the search,
saved with it, so the candidates a seed proposes never depend on how many workers ran them;
a run killed in the middle of a round is resumed in the middle of that round.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from edgeprune.clock import utc_now
from edgeprune.console import escape
from edgeprune.data.bad_data import report_skipped
from edgeprune.data.dataset import DetectionDataset
from edgeprune.errors import EdgepruneError
from edgeprune.latency.archhash import cfg_arch_hash
from edgeprune.latency.meter import LatencyMeter, resolve_device
from edgeprune.models.checkpoint import Checkpoint, save_checkpoint
from edgeprune.models.counting import count_gflops, count_params
from edgeprune.search.agents.base import AgentContext, SearchAgent, agent_class, create_agent
from edgeprune.search.candidate import Candidate
from edgeprune.search.environment import SearchEnvironment, load_search_data
from edgeprune.search.executor import Executor, Job, LocalExecutor
from edgeprune.search.measured_base import MeasuredBase, load_measured_base, save_measured_base
from edgeprune.search.measuring import LatencyDecider, store_for
from edgeprune.search.progress import SearchProgress
from edgeprune.search.records import CandidateLog
from edgeprune.search.results import (
    best_record,
    pareto_front,
    write_best_spec,
    write_pareto_csv,
)
from edgeprune.search.rounds import Round, propose_round, replay_rounds
from edgeprune.search.scoring import relative_ms, score
from edgeprune.search.settings import SearchSettings
from edgeprune.search.target import check_reachable, pruning_floor
from edgeprune.search.verdict import outcome_warnings

LATENCY_CACHE = "latency.sqlite"
LATENCY_TABLE = "latency_table.json"


@dataclass
class SearchOutcome:
    run_dir: Path
    settings: SearchSettings
    records: list[Candidate]
    best: Candidate | None
    pareto: list[Candidate]
    session: int
    replayed: int  # candidates recorded before this session
    evaluated: int  # accuracy evaluations this session
    measured: int  # fresh latency measurements this session (cache misses)
    seconds: float
    finished_early: bool  # the agent had nothing left to try before the budget
    files: dict[str, Path] = field(default_factory=dict)

    measured_base: MeasuredBase | None = None  # None: a search that never ran
    warnings: list[str] = field(default_factory=list)  # what the summary and report must say


def build_environment(settings: SearchSettings, meter: LatencyMeter | None,
                      data: tuple[DetectionDataset, DetectionDataset] | None = None
                      ) -> SearchEnvironment:
    """The search's environment from its settings: the base, the data (`load_search_data`'s
    unless given), the accuracy proxy, at the settings' input size (else the device profile's,
    else the checkpoint's). Without a meter it scores accuracy only (a cluster's accuracy
    worker)."""
    from edgeprune.models.loading import load_model

    base = load_model(settings.weights)
    train_data, val_data = data or load_search_data(settings.data, settings.bad_data)
    return SearchEnvironment(
        base, meter, train_data, val_data,
        imgsz=tuple(settings.imgsz or (meter.imgsz if meter else None) or base.imgsz),
        proxy=settings.proxy, proxy_settings=settings.proxy_settings,
        val_images=settings.val_images, importance=settings.importance, seed=settings.seed,
        base_name=settings.weights, robust=settings.robust)


class Search:
    def __init__(self, run_dir: Path, settings: SearchSettings, *, token: str | None = None,
                 console: Console | None = None, show_progress: bool = True,
                 fresh: bool = False, executor: Executor | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.settings = settings
        self.token = token
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self.fresh = fresh
        self.executor = executor or LocalExecutor()
        self.log = CandidateLog(self.run_dir)
        self.env: SearchEnvironment | None = None
        self.meter: LatencyMeter | None = None
        self.measured_base: MeasuredBase | None = load_measured_base(self.run_dir)
        self.decider: LatencyDecider | None = None  # --latency-mode model

    @classmethod
    def start(cls, settings: SearchSettings, run_dir: Path, **options) -> Search:
        run_dir = Path(run_dir)
        if (run_dir / "config.yaml").exists():
            raise EdgepruneError(f"{run_dir} already holds a search; continue it with "
                                 f"--resume {run_dir}")
        settings.save(run_dir)
        return cls(run_dir, settings, fresh=True, **options)

    @classmethod
    def resume(cls, run_dir: str | Path, **options) -> Search:
        run_dir = Path(run_dir)
        return cls(run_dir, SearchSettings.load(run_dir), **options)

    # ---------------------------------------------------------------------------- setting up

    def prepare(self) -> SearchEnvironment:
        """Load the base and the data, open the meter, measure the base (unless recorded)."""
        try:
            return self._prepare()
        except BaseException:
            self.close()
            if self.fresh:
                self._remove_unused_run_dir()
            raise

    def _prepare(self) -> SearchEnvironment:
        settings = self.settings
        # bad data stops the search here, before anything is measured
        data = load_search_data(settings.data, settings.bad_data)
        report_skipped(data, self.run_dir, self.console)
        cache = settings.latency_cache or self.run_dir / LATENCY_CACHE
        self.meter = resolve_device(settings.device, token=self.token, cache=cache,
                                    protocol=settings.protocol, precision=settings.precision,
                                    threads=settings.threads)
        self.env = build_environment(settings, self.meter, data)
        if settings.imgsz is None:
            self.settings = settings = settings.replace(imgsz=tuple(self.env.imgsz))
            settings.save(self.run_dir)
        if settings.interleave:
            self.meter.use_reference(self.env.base.model.cfg)
        if self.measured_base is None:
            self.measured_base = self._measure_base()
            save_measured_base(self.run_dir, self.measured_base)
        if settings.latency_mode == "model":
            self.decider = LatencyDecider.open(settings, self.run_dir, self.meter, self.env,
                                               self.measured_base, self._status)
        return self.env

    def _measure_base(self) -> MeasuredBase:
        """The base measured until two independent measurements agree (its latency fixes the
        target and every millisecond the search reports), the most-pruned allowed network
        against it, the target checked against that range, and the base's accuracy."""
        env, settings = self.env, self.settings
        device = self.meter.describe()
        with self._status(f"measuring the base model on {device} (until two independent "
                          f"measurements agree)..."):
            base = env.meter.measure_settled(env.base.model.cfg, env.input_shape)
        if not base.settled:
            self.console.print(f"[yellow]the base's latency did not settle on {escape(device)}"
                               f": {escape(base.describe())}; the target in ms and every ms "
                               f"reported lean on it (the ratios do not). Is something else "
                               f"running on the device?[/]", highlight=False)
        base_ms = base.result.median_ms
        fastest = env.fastest_spec(settings.min_ratio, settings.round_to, settings.min_channels)
        with self._status("measuring the most-pruned allowed network..."):
            fastest_latency = env.measure_latency(fastest)
        target_ms = settings.target.resolve_ms(base_ms)
        ratio = relative_ms(fastest_latency, base_ms) / base_ms
        ratio_ci = tuple((fastest_latency.reference or {}).get("ratio_ci") or (ratio, ratio))
        check_reachable(settings.target, target_ms, base_ms, ratio, ratio_ci, device,
                        f"every block dropped, every keep ratio {settings.min_ratio:g}",
                        pruning_floor(env.space, settings.min_ratio, settings.round_to,
                                      settings.min_channels,
                                      bool(settings.proxy_settings.supernet)))
        with self._status(f"scoring the base model on {len(env.val_data)} validation "
                          f"images..."):
            parts = env.scores(env.base.model)
        cfg = env.base.model.cfg
        return MeasuredBase(latency=base.result.to_json(), accuracy=env.combine(parts),
                            gflops=count_gflops(cfg, settings.imgsz), params=count_params(cfg),
                            fastest_latency=fastest_latency.to_json(), target_ms=target_ms,
                            latency_attempts=base.medians_ms, settled=base.settled,
                            accuracy_parts=parts if settings.robust else None)

    def _remove_unused_run_dir(self) -> None:
        """A fresh run that failed before its first candidate leaves nothing behind."""
        if self.log.read():
            return
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def context(self) -> AgentContext:
        env, settings, measured = self.env, self.settings, self.measured_base
        table = scores = None
        if agent_class(settings.agent).needs_latency_table:
            from edgeprune.prune.importance import channel_set_scores

            table = self.latency_table()
            scores = {k: v.numpy() for k, v in
                      channel_set_scores(env.base.model, settings.importance).items()}
        return AgentContext(space=env.space, budget=settings.budget,
                            target_ms=measured.target_ms, base_latency_ms=measured.latency_ms,
                            base_accuracy=measured.accuracy, base_gflops=measured.gflops,
                            seed=settings.seed, round_to=settings.round_to,
                            min_channels=settings.min_channels,
                            ratio_range=(settings.min_ratio, 1.0),
                            options=dict(settings.agent_options),
                            node_embeddings=env.proxy.node_embeddings(),
                            latency_table=table, channel_scores=scores)

    def latency_table(self):
        """The base's per-layer latency table on the search's device: --latency-table, or
        the one measured into the run folder (once: a resumed search reads it back)."""
        from edgeprune.latency.lut import LatencyPredictor, build_predictor

        given = self.settings.latency_table
        path = Path(given) if given else self.run_dir / LATENCY_TABLE
        if path.is_file():
            return LatencyPredictor.load(path)
        if given:
            raise EdgepruneError(f"{given}: latency table not found (make one with "
                                 f"`edgeprune latency lut`)")
        with self._status(f"measuring the per-layer latency table on "
                          f"{self.meter.describe()} (once per search)..."):
            report = build_predictor(self.env.base.model.cfg, self.meter, self.settings.imgsz,
                                     round_to=self.settings.round_to)
        return report.predictor.save(path) and report.predictor

    # ---------------------------------------------------------------------------- the loop

    def run(self) -> SearchOutcome:
        began = time.perf_counter()
        env = self.env or self.prepare()
        try:
            agent = create_agent(self.settings.agent, self.context())
            self.log.open_for_append()
            records = self.log.read()
            session = max((r.session for r in records), default=-1) + 1
            pending = self._replay(agent, records)
            replayed = len(records)
            evaluated = measured = 0
            finished_early = False
            self.executor.start(env, self.settings, self.token, self.measured_base)
            with self._progress(len(records)) as progress:
                while True:
                    round_began = time.perf_counter()
                    if pending is None:
                        if len(records) >= self.settings.budget:
                            break
                        if agent.finished():
                            finished_early = True
                            break
                        pending = self._propose(agent, len(records))
                    for record in self._evaluate(env, pending, records, session,
                                                 round_began):
                        records.append(record)
                        evaluated += record.repeat_of is None
                        measured += record.measured_now
                        progress.update(records)
                    for record in records[pending.first:pending.end]:
                        agent.observe(record)
                    pending = None
            outcome = SearchOutcome(self.run_dir, self.settings, records,
                                    best_record(records), pareto_front(records), session,
                                    replayed, evaluated, measured,
                                    time.perf_counter() - began, finished_early,
                                    measured_base=self.measured_base)
            self._finish(outcome)
            return outcome
        finally:
            self.close()

    def _propose(self, agent: SearchAgent, first: int) -> Round:
        return propose_round(agent, self.settings, self.env.space, first)

    def _replay(self, agent: SearchAgent, records: list[Candidate]) -> Round | None:
        return replay_rounds(agent, self.settings, self.env.space, records, self.log.path)

    def _evaluate(self, env: SearchEnvironment, proposed: Round,
                  records: list[Candidate], session: int, began: float
                  ) -> Iterator[Candidate]:
        """Evaluate the round's steps not yet recorded; record each, in step order, as soon
        as every step before it is recorded."""
        decide_for = self._decisions(env, proposed.first, records)
        jobs: list[Job] = []
        for step, spec in enumerate(proposed.specs[len(records) - proposed.first:],
                                    len(records)):
            plan = env.plan(spec)  # once: the hash, the measured cfg, the pruned model's layout
            arch_hash = cfg_arch_hash(plan.cfg)
            earlier = next((r for r in records if r.arch_hash == arch_hash), None)
            same_as = None if earlier else next(
                (job.step for job in jobs if job.arch_hash == arch_hash), None)
            jobs.append(Job(step, spec, arch_hash, earlier.accuracy if earlier else None,
                            earlier.accuracy_parts if earlier else None, same_as,
                            earlier.step if earlier else same_as, plan))
        done: dict[int, Candidate] = {}
        pending = iter(jobs)
        job = next(pending, None)
        last = began
        for step, result in self.executor.evaluate(env, jobs, decide_for):
            done[step] = result
            while job is not None and job.step in done:
                now = time.perf_counter()
                record = self._record(job, done.pop(job.step), session, now - last)
                last = now
                self.log.append(record)
                yield record
                job = next(pending, None)

    def _decisions(self, env: SearchEnvironment, first: int, records: list[Candidate]):
        """decide_for(step): the latency model's decision for that step of the round that
        starts at `first` (None in --latency-mode measure), from what was recorded before the
        round only, so the round decides alike whoever evaluates it and after a resume."""
        if self.decider is None:
            return None
        self.decider.fit_before(first, records, env.plan)
        measured = [r for r in records[:first] if r.measured]
        target = self.measured_base.target_ms

        def decide_for(step: int):
            return lambda cfg, accuracy: self.decider.decide(step, cfg, accuracy, measured,
                                                             target)

        return decide_for

    def _record(self, job: Job, measured: Candidate, session: int,
                seconds: float) -> Candidate:
        """`measured` (the environment's) numbered, scored against the target, stamped."""
        scored = score(measured, self.measured_base, self.settings.reward, self.meter.protocol)
        return dataclasses.replace(
            measured, spec=job.spec, step=job.step, agent=self.settings.agent,
            session=session, repeat_of=job.repeat_of, wall_seconds=seconds, time=utc_now(),
            **scored.fields())

    # ---------------------------------------------------------------------------- results

    def _finish(self, outcome: SearchOutcome) -> None:
        from edgeprune.search.report import write_report

        run = self.run_dir
        outcome.warnings += outcome_warnings(outcome.measured_base, outcome.best,
                                             outcome.pareto, self.settings.proxy,
                                             "pruned_from" in self.env.base.provenance)
        if self.decider is not None:
            with self._status("keeping the run's measurements in the latency model..."):
                self.decider.give_back(outcome.records, self.env.plan,
                                       store_for(self.settings))
        write_pareto_csv(run / "pareto.csv", outcome.pareto)
        outcome.files["pareto"] = run / "pareto.csv"
        if outcome.best is not None:
            write_best_spec(run / "best.yaml", outcome.best, outcome.measured_base.target_ms, run)
            outcome.files["best_spec"] = run / "best.yaml"
            with self._status("applying the best spec (pruning, BN recalibration)..."):
                outcome.files["best_model"] = save_checkpoint(self.best_checkpoint(outcome),
                                                              run / "best.pt")
        with self._status("writing the report..."):
            outcome.files["report"] = write_report(outcome, self.env.space)

    def best_checkpoint(self, outcome: SearchOutcome) -> Checkpoint:
        best, base = outcome.best, self.env.base
        spec = best.spec
        provenance = {
            "pruned_from": {"base": self.settings.weights, "provenance": base.provenance},
            "spec": spec.to_dict(), "spec_hash": best.spec_hash,
            "importance": self.settings.importance,
            "search": {"run": str(self.run_dir), "step": best.step, "agent": best.agent,
                       "accuracy_proxy": self.settings.proxy, "map50_proxy": best.accuracy,
                       "latency_ms": best.latency_ms, "target_ms": outcome.measured_base.target_ms,
                       "device": self.settings.device, "data": self.settings.data},
            "weight_sharing": self.settings.proxy_settings.supernet,
            "bn_recalibration": {"data": self.settings.data,
                                 "batches": self.settings.proxy_settings.recal_batches,
                                 "batch_size": self.settings.proxy_settings.batch_size},
        }
        return Checkpoint(self.env.pruned_model(spec), list(base.names), base.imgsz,
                          provenance)

    # ---------------------------------------------------------------------------- plumbing

    def close(self) -> None:
        self.executor.close()
        if self.meter is not None:
            self.meter.close()
            self.meter = None

    def _status(self, text: str):
        if not self.show_progress:
            return contextlib.nullcontext()
        return self.console.status(text)

    def _progress(self, done: int) -> SearchProgress:
        return SearchProgress(self.console, self.settings, self.run_dir, self.show_progress,
                              done)

