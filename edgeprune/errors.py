"""Errors that edgeprune reports to users.

Every error a user can cause (a bad file, a bad option) is an `EdgepruneError`; the CLI prints
its message and exits non-zero instead of showing a traceback. Messages name the file (and the
line where there is one) and say what is wrong.
"""

from __future__ import annotations

from pathlib import Path


class EdgepruneError(Exception):
    """Base class for errors caused by user input; the CLI prints the message only."""


class CfgError(EdgepruneError):
    """A Darknet .cfg that cannot be parsed or does not describe a valid network."""

    def __init__(self, source: str | Path, line: int | None, problem: str) -> None:
        self.source = str(source)
        self.line = line
        self.problem = problem
        where = f"{self.source}:{line}" if line else self.source
        super().__init__(f"{where}: {problem}")


class WeightsError(EdgepruneError):
    """A Darknet .weights or checkpoint file that does not match its network."""


class ExportError(EdgepruneError):
    """An export that failed or whose result disagrees with the source model."""


class ModelRejected(EdgepruneError):
    """The model itself cannot be measured: not ONNX, an unsupported op, a wrong input shape.
    (The device server answers 400 for these and 500 for failures of the device.)"""


class MemoryLimitExceeded(ModelRejected):
    """The model needs more memory than the device server lets one measurement take."""


class MeasurementCancelled(EdgepruneError):
    """A measurement stopped between timed runs: its client went away, it ran past the
    server's time limit, or the server is stopping."""
