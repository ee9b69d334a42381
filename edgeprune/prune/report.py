"""Parameters, GFLOPs and channels before and after pruning, per layer and in total."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeprune.models.cfg import ConvLayer
from edgeprune.models.counting import layer_costs
from edgeprune.models.graph import ResidualBlock
from edgeprune.models.shapes import infer_shapes, input_channels
from edgeprune.prune.apply import PrunePlan


@dataclass(frozen=True)
class LayerChange:
    """One base layer: its counts before, and after (None and zeros when it was dropped).
    `in_*` are a conv's input channels (0 for other layers)."""

    index: int
    new_index: int | None
    kind: str
    in_before: int
    in_after: int | None
    out_before: int
    out_after: int | None
    params_before: int
    params_after: int
    flops_before: int
    flops_after: int

    @property
    def changed(self) -> bool:
        return (self.new_index is None or self.in_after != self.in_before
                or self.out_after != self.out_before)


@dataclass(frozen=True)
class PruneReport:
    imgsz: tuple[int, int]
    params_before: int
    params_after: int
    gflops_before: float
    gflops_after: float
    layers_before: int
    layers_after: int
    dropped_blocks: tuple[ResidualBlock, ...]
    layers: tuple[LayerChange, ...]

    def to_json(self) -> dict:
        data = asdict(self)
        data["imgsz"] = list(self.imgsz)
        data["dropped_blocks"] = [{"index": b.index, "layers": [b.start, b.end],
                                   "channels": b.channels} for b in self.dropped_blocks]
        return data


def prune_report(plan: PrunePlan, imgsz: tuple[int, int]) -> PruneReport:
    """Counts of `plan.base` and `plan.cfg` at input size `imgsz` (height, width)."""
    before, after = layer_costs(plan.base, imgsz), layer_costs(plan.cfg, imgsz)
    shapes_before, shapes_after = infer_shapes(plan.base, imgsz), infer_shapes(plan.cfg, imgsz)
    rows = []
    for index, cost in enumerate(before):
        target = plan.new_index[index]
        new = after[target] if target is not None else None
        is_conv = isinstance(plan.base.layers[index], ConvLayer)
        in_before = input_channels(plan.base, shapes_before, index) if is_conv else 0
        in_after = None if target is None else (
            input_channels(plan.cfg, shapes_after, target) if is_conv else 0)
        rows.append(LayerChange(
            index=index, new_index=target, kind=cost.kind, in_before=in_before,
            in_after=in_after,
            out_before=cost.output[0], out_after=new.output[0] if new else None,
            params_before=cost.params, params_after=new.params if new else 0,
            flops_before=cost.flops, flops_after=new.flops if new else 0))
    return PruneReport(
        imgsz=imgsz, params_before=sum(c.params for c in before),
        params_after=sum(c.params for c in after),
        gflops_before=sum(c.flops for c in before) / 1e9,
        gflops_after=sum(c.flops for c in after) / 1e9,
        layers_before=len(before), layers_after=len(after),
        dropped_blocks=plan.resolved.dropped, layers=tuple(rows))
