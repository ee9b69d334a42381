"""Sim-to-real robustness: the domain gap and camera corruptions, models side by side.

`run_sim2real(models, sim, real, ...)` -> `Sim2RealResult` is what `edgeprune eval sim2real`
and the demo call.
"""

from edgeprune.eval.sim2real.result import ModelRobustness, Score, Sim2RealResult
from edgeprune.eval.sim2real.runner import ModelSource, run_sim2real
from edgeprune.eval.sim2real.suite import (
    Condition,
    condition_image,
    parse_corruptions,
    parse_severities,
)

__all__ = ["Condition", "ModelRobustness", "ModelSource", "Score", "Sim2RealResult",
           "condition_image", "parse_corruptions", "parse_severities", "run_sim2real"]
