"""Figures for reports: matplotlib without a display, PNGs written atomically."""

from __future__ import annotations

import io
from pathlib import Path

from edgeprune.atomic import atomic_write_bytes


def pyplot():
    """matplotlib.pyplot on the Agg backend (robots and CI have no display); imported on first
    use so commands that draw nothing do not pay for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> Path:
    """Write `figure` as a PNG at `path` (atomically: a reader never sees half an image) and
    close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path
