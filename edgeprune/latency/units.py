"""The layer units of a base, timed on its device: the table a latency model starts from.

A unit is a layer as the runtime runs it (a conv with its batch norm folded into its bias and
its activation fused, a maxpool, an upsample), exported alone at the input size it has inside
the base and timed by the meter's protocol (with LAYER_PROTOCOL's shorter budget) over a grid
of channel counts (lut.py). Where the device is behind a server, the server builds the table
on the device itself (`Backend.measure_units`: POST /units, server_units.py) and keeps every
unit in its own cache, so a board measures its table once and a search then sends only the
candidates that decide; locally every unit goes into the meter's latency cache, so a second
table of the same device costs nothing either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edgeprune.latency.lut import DEFAULT_GRID, LAYER_PROTOCOL, LatencyPredictor, build_table
from edgeprune.models.cfg import DarknetCfg


def measure_unit_table(meter, cfg: DarknetCfg, imgsz: tuple[int, int], round_to: int,
                       progress: Callable[[int, int], None] | None = None,
                       grid: Sequence[float] = DEFAULT_GRID) -> LatencyPredictor:
    """The unit table of `cfg` at `imgsz` on `meter`'s device (its backend, precision and
    cache), channel counts multiples of `round_to` at the `grid` fractions of each layer's;
    `progress(done, total)` as units are timed."""
    from edgeprune.latency.meter import LatencyMeter

    table = meter.backend.measure_units(cfg, imgsz, meter.precision, round_to, tuple(grid),
                                        progress)
    if table is not None:
        return table
    layer_meter = LatencyMeter(meter.backend, cache=meter.cache,
                               protocol=unit_protocol(meter.protocol),
                               precision=meter.precision)
    meta = {"backend": meter.backend.cache_backend_key(),
            "device": meter.backend.identity().describe(), "precision": meter.precision,
            "grid": list(grid), "round_to": round_to, "base": cfg.source}
    return build_table(cfg, imgsz, lambda data: layer_meter.measure(data).median_ms,
                       grid, round_to, progress, meta=meta)


# what LAYER_PROTOCOL bounds from above (a unit never takes longer than the meter would let a
# whole network take), and what it bounds from below (never held to a tighter interval)
_AT_MOST = ("warmup_runs", "warmup_seconds", "min_runs", "max_runs", "max_seconds")
_AT_LEAST = ("target_rel_ci",)


def unit_protocol(protocol):
    """LAYER_PROTOCOL's shorter budget for a unit, within what the meter's own protocol
    allows: a quick protocol (a test's, a quick benchmark's) stays quick for units too."""
    overrides = dict(LAYER_PROTOCOL)
    for name in _AT_MOST:
        overrides[name] = min(overrides[name], getattr(protocol, name))
    for name in _AT_LEAST:
        overrides[name] = max(overrides[name], getattr(protocol, name))
    return protocol.with_overrides(overrides)
