"""What a search's result means to the person who ran it: its latencies with their intervals,
and a plain warning when the best candidate keeps too little of the base's accuracy to be
worth fine-tuning as it is. The console summary and report.md both print these."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.latency.result import LatencyResult
from edgeprune.search.candidate import Candidate
from edgeprune.search.measured_base import MeasuredBase
from edgeprune.search.scoring import relative_ms_interval

# The best keeps less than this share of the base's proxy: say so (a searched-and-pruned
# network that a proxy scores below half its base rarely fine-tunes back in a short budget).
WEAK_SHARE = 0.5


@dataclass(frozen=True)
class LatencyCells:
    """Base and best latency, and the speedup, each with its 95% interval, as text."""

    base: str
    best: str
    speedup: str


def latency_cells(measured: MeasuredBase, best: Candidate) -> LatencyCells:
    """The base's median with its interval; the best's latency (its ratio to the base in the
    same window times the base's latency) with the interval of both; the speedup with the
    ratio's interval (what holds on a busy device)."""
    low, high = measured.latency_ci_ms
    base = f"{measured.latency_ms:.3f} ({low:.3f}-{high:.3f})"
    result = LatencyResult.from_json(best.latency)
    best_low, best_high = relative_ms_interval(result, measured)
    best_text = f"{best.latency_ms:.3f} ({best_low:.3f}-{best_high:.3f})"
    speedup = measured.latency_ms / best.latency_ms
    if result.ratio and result.reference and result.reference.get("ratio_ci"):
        ratio_low, ratio_high = result.reference["ratio_ci"]
        speedup_text = (f"{speedup:.2f}x faster ({1 / ratio_high:.2f}-"
                        f"{1 / max(ratio_low, 1e-9):.2f}x)")
    else:
        speedup_text = f"{speedup:.2f}x faster"
    return LatencyCells(base, best_text, speedup_text)


def weak_best(measured: MeasuredBase, best: Candidate | None, front: list[Candidate],
              proxy: str, base_pruned_before: bool) -> str | None:
    """A warning when the best candidate's accuracy proxy keeps under WEAK_SHARE of the
    base's, with the likely cause and what to try; None when it keeps enough."""
    if best is None or measured.accuracy <= 0:
        return None
    share = best.accuracy / measured.accuracy
    if share >= WEAK_SHARE:
        return None
    causes = []
    if base_pruned_before:
        causes.append("the base is already pruned, so little redundancy is left to remove")
    causes.append(f"the target ({measured.latency_ms / measured.target_ms:.2f}x faster than "
                  f"the base) asks for more pruning than this base gives up cheaply")
    if proxy in ("bn-recal", "finetune"):
        causes.append(f"the `{proxy}` proxy scores pruned weights with little or no training, "
                      f"which underrates deep prunes")
    keeping = [r for r in front if r.accuracy >= WEAK_SHARE * measured.accuracy]
    gentler = (f"a gentler target: the fastest candidate keeping at least "
               f"{WEAK_SHARE:.0%} of the base's proxy ran {keeping[0].latency_ms:.3f} ms "
               f"({measured.latency_ms / keeping[0].latency_ms:.2f}x, step {keeping[0].step})"
               if keeping else "a gentler target (no candidate kept half the base's proxy)")
    tries = [gentler]
    if proxy != "pruningnet":
        tries.append("a weight-sharing network (`edgeprune supernet train`, then --supernet), "
                      "whose scores follow fine-tuned accuracy more closely")
    tries.append("fine-tuning it anyway and checking it with `edgeprune val` against the base")
    return (f"the best candidate's accuracy proxy ({best.accuracy:.4f}) keeps only "
            f"{share:.0%} of the base's ({measured.accuracy:.4f}): as it stands it is not a "
            f"useful network. Likely: {'; '.join(causes)}. Try: {'; '.join(tries)}.")


def outcome_warnings(measured: MeasuredBase, best: Candidate | None, front: list[Candidate],
                     proxy: str, base_pruned_before: bool) -> list[str]:
    """Everything the summary and the report must say about a finished search's result."""
    warnings = []
    weak = weak_best(measured, best, front, proxy, base_pruned_before)
    if weak:
        warnings.append(weak)
    if measured.settled is False:
        attempts = ", ".join(f"{ms:.3f}" for ms in measured.latency_attempts)
        warnings.append(f"the base's latency did not settle: independent measurements gave "
                        f"{attempts} ms and the lowest is used; every ms reported leans on it "
                        f"(the ratios do not)")
    return warnings
