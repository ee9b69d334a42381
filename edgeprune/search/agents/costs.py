"""What a candidate will cost before it is measured: FLOPs from the graph, latency fitted to
what the run has measured so far.

Agents use this to start near the target (a uniform keep ratio whose FLOPs fit the latency
budget) and, in `rlpruner`, to scale a pruning distribution to the target. It never replaces a
measurement: the reward always comes from the device. The FLOPs count is exact (Darknet's
2 x multiply-adds, equal to `count_gflops(pruned_cfg(cfg, spec))`) but computed from the
channel coupling in microseconds, so a bisection over hundreds of candidate specs is cheap.
"""

from __future__ import annotations

import numpy as np

from edgeprune.models.cfg import ConvLayer
from edgeprune.models.graph import INPUT_SET
from edgeprune.models.shapes import infer_shapes
from edgeprune.prune.space import PruneSpace
from edgeprune.prune.spec import PruneSpec


class CostModel:
    """FLOPs of the base model under any channel widths and dropped residual blocks."""

    def __init__(self, space: PruneSpace, input_hw: tuple[int, int] | None = None) -> None:
        cfg, coupling = space.cfg, space.coupling
        shapes = infer_shapes(cfg, input_hw)
        self.space = space
        self.set_widths = np.array([s.width for s in coupling.sets], dtype=np.float64)
        block_of = {layer: b.index for b in space.blocks for layer in b.layers}
        convs = [i for i, layer in enumerate(cfg.layers) if isinstance(layer, ConvLayer)]
        self.conv_layers = np.array(convs)
        # flops = unit x (output channels kept) x (input channels kept), per conv
        self.unit = np.zeros(len(convs))
        self.out_set = np.zeros(len(convs), dtype=np.int64)
        # input channels of conv c = sum over sets s of inputs[c, s] x (fraction of s kept)
        self.inputs = np.zeros((len(convs), len(coupling.sets)))
        self.block = np.full(len(convs), -1, dtype=np.int64)
        for c, index in enumerate(convs):
            layer = cfg.layers[index]
            self.unit[c] = 2 * layer.size ** 2 * shapes[index].height * shapes[index].width \
                / layer.groups
            self.out_set[c] = coupling.set_of(index).id
            pieces = coupling.segments[index - 1] if index > 0 else ()
            if index == 0:
                self.inputs[c, INPUT_SET] = cfg.net.channels
            for piece in pieces:
                self.inputs[c, piece.set_id] += piece.width
            self.block[c] = block_of.get(index, -1)
        self.base_gflops = self.gflops_of(self.set_widths)

    def gflops_of(self, kept: np.ndarray, block_kept: np.ndarray | None = None) -> float:
        """GFLOPs with `kept[s]` channels of every channel set `s` (fractional counts allowed)
        and residual block `b` present with weight `block_kept[b]` (0 dropped, 1 kept; a
        probability gives the expected cost)."""
        fraction = np.asarray(kept, dtype=np.float64) / self.set_widths
        flops = self.unit * np.asarray(kept, dtype=np.float64)[self.out_set] \
            * (self.inputs @ fraction)
        if block_kept is not None and len(block_kept):
            present = np.ones(len(self.unit))
            in_block = self.block >= 0
            present[in_block] = np.asarray(block_kept, dtype=np.float64)[self.block[in_block]]
            flops = flops * present
        return float(flops.sum() / 1e9)

    def kept_channels(self, group_ratios: dict[int, float], spec_rules: PruneSpec) -> np.ndarray:
        """Channels kept per set when group `key` keeps `group_ratios[key]` (others whole),
        rounded as `spec_rules` (round_to, min_channels) rounds them."""
        kept = self.set_widths.copy()
        for group in self.space.groups:
            ratio = group_ratios.get(group.key, 1.0)
            kept[group.set_id] = spec_rules.kept_channels(group.width, ratio)
        return kept

    def spec_gflops(self, spec: PruneSpec) -> float:
        """Exact GFLOPs of the model `spec` prunes to (spec checked against the space)."""
        resolved = self.space.resolve(spec)
        kept = np.array([resolved.kept[s] for s in range(len(self.set_widths))], dtype=float)
        block_kept = np.ones(len(self.space.blocks))
        block_kept[list(spec.drop_blocks)] = 0.0
        return self.gflops_of(kept, block_kept)

    def uniform_ratio_for(self, gflops: float, spec_rules: PruneSpec,
                          ratio_range: tuple[float, float],
                          block_kept: np.ndarray | None = None) -> float:
        """The largest keep ratio, the same for every channel group, whose (expected) FLOPs do
        not exceed `gflops`; the range's low end when even that is too much."""
        lo, hi = ratio_range

        def cost(ratio: float) -> float:
            ratios = {g.key: ratio for g in self.space.groups}
            return self.gflops_of(self.kept_channels(ratios, spec_rules), block_kept)

        if cost(hi) <= gflops:
            return hi
        if cost(lo) > gflops:
            return lo
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if cost(mid) <= gflops else (lo, mid)
        return lo


class LatencyFit:
    """Measured latency as a + b x GFLOPs, fitted to the run's measurements.

    Latency is not proportional to FLOPs (fixed per-run and per-layer overheads, memory-bound
    layers), but over one model family on one device a line is a fair local guide. The fit is
    Theil-Sen (slope: the median of the slopes between all pairs of points; intercept: the
    median residual), which ignores up to ~29% of wild points: a device shared with other
    work (a busy CPU, a throttling Jetson) now and then reports a latency twice too high, and
    least squares would bend the whole line towards it. With only the base point (or no
    usable line) it falls back to proportional (a = 0).
    """

    def __init__(self, base_gflops: float, base_latency_ms: float) -> None:
        self.points: list[tuple[float, float]] = [(base_gflops, base_latency_ms)]
        self.base_gflops, self.base_latency_ms = base_gflops, base_latency_ms

    def add(self, gflops: float, latency_ms: float) -> None:
        if np.isfinite(latency_ms) and latency_ms > 0 and gflops > 0:
            self.points.append((gflops, latency_ms))

    def coefficients(self) -> tuple[float, float]:
        g, t = np.array(self.points).T
        proportional = (0.0, self.base_latency_ms / self.base_gflops)
        i, j = np.triu_indices(len(g), k=1)
        apart = np.abs(g[j] - g[i]) > 1e-6 * self.base_gflops
        if not apart.any():
            return proportional
        slope = float(np.median((t[j] - t[i])[apart] / (g[j] - g[i])[apart]))
        intercept = float(np.median(t - slope * g))
        if slope <= 0 or intercept < 0:  # noise or too few points: not a usable line
            return proportional
        return intercept, slope

    def predict(self, gflops: float) -> float:
        a, b = self.coefficients()
        return a + b * gflops

    def gflops_for(self, latency_ms: float) -> float:
        """The GFLOPs the fit says a model needs to run in `latency_ms` (0 if no size can)."""
        a, b = self.coefficients()
        return max(0.0, (latency_ms - a) / b)

