"""A measurement a whole search leans on, settled by independent repeats.

One measurement is only as good as the window it was taken in: a search's base measured
11.99 ms (cv 0.17, re-measured twice) in a busy window, and 6.8 ms alone a minute later, so
its target in ms and every millisecond it reported were 1.75x too high (the ratios, timed
against the base in the same window, were right). The protocol's own re-measures happen back
to back, inside the same busy window, so they cannot see that.

So the base is measured again, fresh, until two independent measurements agree: their
medians' confidence intervals overlap and the medians differ by at most `agreement` (relative).
Interference on a device only ever adds time, so among agreeing measurements the lowest is
kept. When no two agree within `attempts`, the lowest is kept and the result says it did not
settle, so the search can say so rather than present a number it could not confirm.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from edgeprune.latency.result import LatencyResult

ATTEMPTS = 4  # independent measurements at most
AGREEMENT = 0.05  # two medians agree when within 5% of each other (and their CIs overlap)


@dataclass(frozen=True)
class SettledResult:
    result: LatencyResult  # the measurement kept, with its `settled` entry
    attempts: list[LatencyResult]  # every measurement taken, in order
    settled: bool  # two of them agreed
    reused: bool = False  # answered by a result settled before (from the cache)

    @property
    def medians_ms(self) -> list[float]:
        return [attempt.median_ms for attempt in self.attempts]

    def describe(self) -> str:
        shown = ", ".join(f"{median:.3f}" for median in self.medians_ms)
        if self.settled:
            return (f"{self.result.median_ms:.3f} ms, settled by {len(self.attempts)} "
                    f"independent measurement(s): {shown} ms")
        return (f"{self.result.median_ms:.3f} ms, NOT settled: {len(self.attempts)} "
                f"independent measurements disagree ({shown} ms); the lowest is kept")


def agree(first: LatencyResult, second: LatencyResult, agreement: float = AGREEMENT) -> bool:
    """Whether two measurements of one model say the same: overlapping median intervals and
    medians within `agreement` of the lower one."""
    low = min(first.median_ms, second.median_ms)
    if low <= 0 or abs(first.median_ms - second.median_ms) > agreement * low:
        return False
    (a_low, a_high), (b_low, b_high) = first.median_ci_ms, second.median_ci_ms
    return a_low <= b_high and b_low <= a_high


def settle(measure: Callable[[bool], LatencyResult], attempts: int = ATTEMPTS,
           agreement: float = AGREEMENT) -> SettledResult:
    """Measure with `measure(use_cache)` until two results agree (at most `attempts`).

    The first call may answer from the cache. A cached result that went through this before
    (it has a `settled` entry) is the answer as it is, agreed or not, so a search run again on
    the same cache sees the same base (a fresh cache measures afresh); otherwise it counts as
    one measurement and the later calls are fresh. The kept result carries its `settled`
    entry.
    """
    first = measure(True)
    if first.settled:
        earlier = [dataclasses.replace(first, settled=None, median_ms=ms)
                   for ms in first.settled.get("attempts_ms", [first.median_ms])]
        return SettledResult(first, earlier, bool(first.settled.get("agreed")), reused=True)
    taken = [first]
    kept, agreed = None, False
    while len(taken) < max(1, attempts):
        taken.append(measure(False))
        pairs = [(a, b) for i, a in enumerate(taken) for b in taken[i + 1:]
                 if agree(a, b, agreement)]
        if pairs:
            pair = min(pairs, key=lambda pair: max(p.median_ms for p in pair))
            kept, agreed = min(pair, key=lambda r: r.median_ms), True
            break
    kept = kept or min(taken, key=lambda r: r.median_ms)
    entry = {"attempts_ms": [r.median_ms for r in taken], "agreed": agreed}
    return SettledResult(dataclasses.replace(kept, settled=entry), taken, agreed)
