"""Measurement where it decides: a candidate is measured when its interval straddles the
target, when it could become the best or enter the Pareto front, and at an audit rate; a
clearly infeasible or clearly dominated one is scored by the latency model."""

from __future__ import annotations

from edgeprune.prune.spec import PruneSpec
from edgeprune.search.candidate import Candidate
from edgeprune.search.measuring import audit_draw, measure_reason
from edgeprune.search.reward import RewardConfig

HARD = RewardConfig()
TARGET = 10.0


def measured(step: int, accuracy: float, latency_ms: float) -> Candidate:
    return Candidate(PruneSpec.uniform(0.5), step, accuracy, latency_ms, 1.0, 100,
                     reward=accuracy if latency_ms <= TARGET else -(latency_ms / TARGET - 1),
                     feasible=latency_ms <= TARGET, latency={"median_ms": latency_ms})


SEEN = [measured(0, 0.50, 9.0), measured(1, 0.40, 7.0), measured(2, 0.60, 14.0)]


def reason(accuracy: float, low: float, high: float, seen=SEEN, step: int = 7,
           audit_rate: float = 0.0) -> str | None:
    return measure_reason(step, accuracy, low, high, TARGET, HARD, seen, seed=0,
                          audit_rate=audit_rate)


def test_an_interval_across_the_target_is_measured():
    assert reason(0.1, 9.5, 10.5) == "its interval straddles the target"


def test_a_candidate_that_could_become_the_best_is_measured():
    assert reason(0.55, 8.0, 9.0) == "it could become the best"  # beats 0.50 within target
    assert reason(0.1, 8.0, 9.0, seen=[]) == "it could become the best"  # nothing measured
    # with nothing feasible measured yet, an over-target one with a smaller miss could be
    over = [measured(0, 0.5, 15.0)]
    assert reason(0.1, 12.0, 13.0, seen=over) == "it could become the best"


def test_a_candidate_that_could_enter_the_front_is_measured():
    # not the best (0.45 < 0.50) but faster than everything as accurate: a front point
    assert reason(0.45, 5.0, 6.0) == "it could enter the Pareto front"


def test_without_measuring_the_front_only_decisions_about_the_best_measure():
    def no_front(accuracy, low, high):
        return measure_reason(7, accuracy, low, high, TARGET, HARD, SEEN, seed=0,
                              audit_rate=0.0, measure_front=False)

    assert no_front(0.45, 5.0, 6.0) is None  # a front point, but it cannot be the best
    assert no_front(0.55, 8.0, 9.0) == "it could become the best"
    assert no_front(0.1, 9.5, 10.5) == "its interval straddles the target"


def test_a_clearly_infeasible_or_dominated_candidate_is_predicted():
    assert reason(0.30, 16.0, 18.0) is None  # over the target, beaten by step 2 (14 ms, 0.60)
    assert reason(0.35, 7.5, 8.5) is None  # within it, beaten by step 1 (7 ms, 0.40)


def test_the_audit_measures_a_fixed_share_drawn_from_seed_and_step():
    draws = [audit_draw(0, step) for step in range(2000)]
    assert draws == [audit_draw(0, step) for step in range(2000)]  # no generator state
    assert 0.04 < sum(d < 0.05 for d in draws) / len(draws) < 0.06
    audited = [step for step in range(200) if reason(0.30, 16.0, 18.0, step=step,
                                                     audit_rate=0.05) == "audit"]
    assert audited == [step for step in range(200) if audit_draw(0, step) < 0.05]
    assert audited  # some, not all
    assert len(audited) < 30


def test_the_loop_measures_where_it_decides_and_resumes_to_the_same_decisions(search_setup,
                                                                              tmp_path):
    """A search whose device model is already narrow (its store seeded with networks it
    predicts exactly): the loop predicts the candidates whose measurement would decide
    nothing, measures the others with the reason, reports only measured results, and a run
    cut in the middle resumes to the same decisions."""
    import json
    import re
    import shutil

    import numpy as np
    from click.testing import CliRunner

    from edgeprune.cli import main
    from edgeprune.latency.model_store import ModelStore
    from edgeprune.models import load_checkpoint
    from edgeprune.prune.apply import plan_pruning
    from edgeprune.prune.space import prune_space
    from edgeprune.search.records import CandidateLog

    cache = tmp_path / "cache.sqlite"
    args = ["--target-speedup", "1.25", "--latency-cache", str(cache), "--out", str(tmp_path),
            "--latency-mode", "model", "--audit-rate", "0"]
    first = CliRunner().invoke(main, search_setup.args(*args, "--name", "seed", budget=1))
    assert first.exit_code == 0, first.output
    store = ModelStore(cache)
    [path] = store.folder.glob("*.json")
    seeded = json.loads(path.read_text())
    from edgeprune.latency.latency_model import LatencyModel

    model = LatencyModel.from_json(seeded)
    base = load_checkpoint(search_setup.weights).model.cfg
    space = prune_space(base)
    rng = np.random.default_rng(1)
    for index in range(300):  # networks the model predicts exactly: its interval narrows
        spec = PruneSpec.create(ratios={g.key: float(rng.uniform(0.25, 1)) for g in
                                        space.groups}, round_to=8, min_channels=8)
        cfg = plan_pruning(base, spec, space=space).cfg
        model.add(cfg, model.predict(cfg).ratio, f"synthetic-{index}", refit=False)
    model.refit()
    path.write_text(json.dumps(model.to_json()))
    # the same start for a search that does not measure for the front (below)
    sparse_cache = tmp_path / "sparse" / "cache.sqlite"
    sparse_cache.parent.mkdir()
    shutil.copy(cache, sparse_cache)
    shutil.copytree(store.folder, ModelStore(sparse_cache).folder)

    result = CliRunner().invoke(main, search_setup.args(*args, "--name", "whole", budget=10))
    assert result.exit_code == 0, result.output
    run = tmp_path / "search" / "whole"
    records = CandidateLog(run).read()
    predicted = [r for r in records if r.latency_predicted]
    measured = [r for r in records if r.measured]
    assert predicted and measured, [r.measure_reason for r in records]
    target = json.loads((run / "measured_base.json").read_text())["target_ms"]
    for record in predicted:
        low, high = record.prediction["low_ms"], record.prediction["high_ms"]
        assert not low <= target < high and not record.latency  # decided by the model
        assert "predicted," in result.output
    for record in measured:
        assert record.latency and (record.measure_reason or record.from_cache)
    best_step = int(re.search(r"step (\d+)", (run / "best.yaml").read_text()).group(1))
    assert records[best_step].measured
    front = [line.split(",")[0] for line in (run / "pareto.csv").read_text().splitlines()[1:]]
    assert all(records[int(step)].measured for step in front)

    # the same search from the same start without measuring for the front: none of the
    # front's measurements (how many others it takes depends on the timings, which steer the
    # agent), and the setting kept for a resume
    front = "it could enter the Pareto front"
    sparse_args = [a if a != str(cache) else str(sparse_cache) for a in args]
    sparse = CliRunner().invoke(main, search_setup.args(*sparse_args, "--name", "sparse",
                                                        "--no-measure-front", budget=10))
    assert sparse.exit_code == 0, sparse.output
    sparse_records = CandidateLog(tmp_path / "search" / "sparse").read()
    assert not any(r.measure_reason == front for r in sparse_records)
    assert any(r.latency_predicted for r in sparse_records)
    assert "measure_front: false" in (tmp_path / "search" / "sparse" / "config.yaml").read_text()

    cut = tmp_path / "search" / "cut"
    shutil.copytree(run, cut)
    lines = (cut / "candidates.jsonl").read_text().splitlines(keepends=True)
    (cut / "candidates.jsonl").write_text("".join(lines[:5]))
    resumed = CliRunner().invoke(main, ["search", "--resume", str(cut)])
    assert resumed.exit_code == 0, resumed.output
    again = CandidateLog(cut).read()
    assert [(r.latency_predicted, r.latency_ms, r.reward) for r in again] == \
        [(r.latency_predicted, r.latency_ms, r.reward) for r in records]
