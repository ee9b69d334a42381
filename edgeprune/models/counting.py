"""Parameters and FLOPs per layer, from the cfg alone (no tensors needed).

GFLOPs follow Darknet's own count: 2 x multiply-adds of the convolutions at the input size,
so numbers compare directly with what `darknet detector` prints (65.879 for yolov3 at 416).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.models.cfg import ConvLayer, DarknetCfg, layer_kind
from edgeprune.models.shapes import infer_shapes, input_channels


@dataclass(frozen=True)
class LayerCost:
    index: int
    kind: str
    params: int
    flops: int  # 2 x multiply-adds
    output: tuple[int, int, int]  # channels, height, width


def layer_costs(cfg: DarknetCfg, input_hw: tuple[int, int] | None = None) -> list[LayerCost]:
    shapes = infer_shapes(cfg, input_hw)
    costs = []
    for index, (layer, shape) in enumerate(zip(cfg.layers, shapes, strict=True)):
        params = flops = 0
        if isinstance(layer, ConvLayer):
            fan_in = input_channels(cfg, shapes, index) // layer.groups * layer.size ** 2
            params = layer.filters * fan_in + layer.filters * (2 if layer.batch_normalize else 1)
            flops = 2 * layer.filters * fan_in * shape.height * shape.width
        costs.append(LayerCost(index, layer_kind(layer), params, flops,
                               (shape.channels, shape.height, shape.width)))
    return costs


def count_params(cfg: DarknetCfg) -> int:
    """Trainable parameters (conv weights and biases, BN scales and shifts)."""
    return sum(c.params for c in layer_costs(cfg))


def count_gflops(cfg: DarknetCfg, input_hw: tuple[int, int] | None = None) -> float:
    return sum(c.flops for c in layer_costs(cfg, input_hw)) / 1e9
