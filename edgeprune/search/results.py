"""What a search's candidates add up to: the Pareto front of accuracy against measured latency,
and the best candidate. Both are drawn from the measured candidates only: a latency a search
reports as a result is a device measurement, never a prediction of its latency model."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.search.candidate import Candidate

PARETO_COLUMNS = ("step", "latency_ms", "accuracy", "reward", "feasible", "gflops", "params",
                  "spec_hash", "arch_hash")


def distinct(records: list[Candidate]) -> list[Candidate]:
    """One record per network (repeats of an evaluated network left out)."""
    seen: set[str] = set()
    kept = []
    for record in records:
        if record.arch_hash not in seen:
            seen.add(record.arch_hash)
            kept.append(record)
    return kept


def pareto_front(records: list[Candidate]) -> list[Candidate]:
    """Measured candidates no other beats on both measured latency (lower) and accuracy
    (higher), fastest first."""
    measured = [r for r in records if r.measured]
    ordered = sorted(distinct(measured), key=lambda r: (r.latency_ms, -r.accuracy, r.step))
    front: list[Candidate] = []
    for record in ordered:
        if not front or record.accuracy > front[-1].accuracy:
            front.append(record)
    return front


def best_record(records: list[Candidate]) -> Candidate | None:
    """The highest reward among measured candidates that meet the target; when none does, the
    highest reward of the measured ones (the caller says so). Ties go to the faster, then the
    earlier candidate."""
    measured = [r for r in records if r.measured]
    if not measured:
        return None
    pool = [r for r in measured if r.feasible] or measured
    return max(pool, key=lambda r: (r.reward, -r.latency_ms, -r.step))


def write_pareto_csv(path: Path, front: list[Candidate]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(PARETO_COLUMNS)
    for record in front:
        writer.writerow([record.step, f"{record.latency_ms:.4f}", f"{record.accuracy:.5f}",
                         f"{record.reward:.5f}", int(record.feasible), f"{record.gflops:.4f}",
                         record.params, record.spec_hash, record.arch_hash])
    atomic_write_text(path, buffer.getvalue())


def write_best_spec(path: Path, record: Candidate, target_ms: float, run: Path) -> None:
    """The best spec as a prune spec file (`edgeprune prune --spec`), its scores as comments."""
    spec = record.spec
    header = (f"# best candidate of the search {run}: step {record.step}\n"
              f"# measured latency {record.latency_ms:.4f} ms (target {target_ms:.4f} ms, "
              f"{'met' if record.feasible else 'NOT met'}), accuracy proxy (mAP@0.5) "
              f"{record.accuracy:.4f}, reward {record.reward:.4f}\n"
              f"# {record.gflops:.4f} GFLOPs, {record.params:,} parameters; spec hash "
              f"{record.spec_hash}\n")
    atomic_write_text(path, header + spec.to_yaml())
