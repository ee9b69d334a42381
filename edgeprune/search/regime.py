"""Does pruning pay here? The checks of a base on a device before any comparison is believed.

Every measurement so far had the searched, fine-tuned network losing far more than published
pruning loses, and mostly because of the regime the numbers were taken in: a base trained too
briefly (the w0.5 base scored below a yolov3-tiny trained from scratch), and latency that
followed per-layer overhead rather than compute (a 2x target forced a 6x FLOPs cut). Four
checks, each measured and said plainly when it fails:

(a) converged: the base's training stopped by the plateau rule (`train --plateau`);
(b) latency follows compute: a uniform keep-0.5 prune (about 4x fewer FLOPs) runs at least
    MIN_SPEEDUP faster on the device, timed interleaved with the base;
(c) the base beats yolov3-tiny trained from scratch on the same data, for the same epochs, by
    at least MIN_MARGIN mAP@0.5 (a pruned network never beats its base);
(d) where yolov3-tiny's measured latency sits against the 2x and 4x targets (the rival a user
    would pick at those speeds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeprune.train.plateau import read_verdict

MIN_SPEEDUP = 2.5  # (b): of a uniform keep-0.5 prune, about 4x fewer FLOPs
MIN_MARGIN = 0.05  # (c): mAP@0.5 the base must lead yolov3-tiny by
TARGETS = (2.0, 4.0)


@dataclass
class Check:
    name: str
    passed: bool | None  # None: not checked (the reason says why)
    measured: str
    reason: str

    def mark(self) -> str:
        return {True: "pass", False: "FAIL", None: "not checked"}[self.passed]


@dataclass
class RegimeReport:
    base: str
    device: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_json(self) -> dict:
        return {"base": self.base, "device": self.device, "passed": self.passed,
                "checks": [asdict(check) for check in self.checks]}


def converged(weights: str | Path) -> Check:
    """(a) from the base's run folder (plateau.json beside its checkpoint)."""
    verdict = read_verdict(Path(weights).parent)
    if verdict is None:
        return Check("converged", False, "no plateau.json beside the base",
                     "the base was not trained until converged: train it with --plateau N "
                     "(its run stops when val mAP@0.5 stops improving)")
    return Check("converged", True, f"stopped after epoch {verdict['stopped_after_epoch']}",
                 verdict["reason"])


def follows_compute(meter, base_cfg, imgsz: tuple[int, int]) -> Check:
    """(b) a uniform keep-0.5 prune timed interleaved with the base."""
    from edgeprune.models.counting import count_gflops
    from edgeprune.prune.apply import plan_pruning
    from edgeprune.prune.space import prune_space
    from edgeprune.prune.spec import PruneSpec

    pruned = plan_pruning(base_cfg, PruneSpec.uniform(0.5), space=prune_space(base_cfg)).cfg
    meter.use_reference(base_cfg)
    speedup = 1 / meter.measure(pruned).ratio
    flops = count_gflops(base_cfg, imgsz) / count_gflops(pruned, imgsz)
    passed = speedup >= MIN_SPEEDUP
    reason = (f"latency follows compute on this device: {flops:.1f}x fewer FLOPs ran "
              f"{speedup:.2f}x faster" if passed else
              f"latency follows per-layer overhead more than compute here: {flops:.1f}x fewer "
              f"FLOPs ran only {speedup:.2f}x faster (< {MIN_SPEEDUP:g}x), so a 2x target "
              f"forces a much deeper cut; a wider base, a larger input or fewer ONNX Runtime "
              f"threads move it towards compute")
    return Check("latency follows compute", passed,
                 f"uniform keep-0.5: {flops:.1f}x fewer FLOPs, {speedup:.2f}x faster", reason)


def beats_tiny(base_map50: float, tiny_map50: float | None, epochs: str) -> Check:
    """(c) the base's val mAP@0.5 against yolov3-tiny's from scratch."""
    if tiny_map50 is None:
        return Check("base beats yolov3-tiny", None, "-",
                     "give --tiny (a yolov3-tiny trained from scratch on the same data for "
                     "the same epochs: `edgeprune scratch --model yolov3-tiny --width 1`)")
    margin = base_map50 - tiny_map50
    passed = margin >= MIN_MARGIN
    reason = (f"the base leads by {margin:+.3f}" if passed else
              f"the base leads yolov3-tiny by only {margin:+.3f} (< {MIN_MARGIN:g}): nothing "
              f"pruned from it can beat the rival a user trains without edgeprune; train the "
              f"base longer (--plateau) or wider")
    return Check("base beats yolov3-tiny", passed,
                 f"mAP@0.5 base {base_map50:.4f}, yolov3-tiny {tiny_map50:.4f} ({epochs})",
                 reason)


def tiny_against_targets(meter, tiny_cfg) -> Check:
    """(d) yolov3-tiny's latency ratio to the base (the meter's reference) and the targets."""
    speedup = 1 / meter.measure(tiny_cfg).ratio
    beside = ", ".join(f"{'faster' if speedup >= t else 'slower'} than the {t:g}x target"
                       for t in TARGETS)
    return Check("yolov3-tiny against the targets", True,
                 f"yolov3-tiny runs {speedup:.2f}x faster than the base", beside)
