"""The torch module built from a `DarknetCfg`, one submodule per cfg layer.

`layers[i]` is cfg layer i, so state-dict keys (`layers.12.conv.weight`) and Darknet's layer
numbers agree. Every submodule takes the outputs of its source layers as arguments, which keeps
the forward pass one short loop. In training mode the model returns the raw per-head tensors
(batch, anchors, H, W, 5 + classes) for the loss; in eval mode it returns Darknet's decoded
boxes as one tensor (batch, N, 5 + classes): cx, cy, w, h in input pixels, objectness, class
probabilities — the ONNX output contract.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgeprune.models.cfg import (
    ConvLayer,
    DarknetCfg,
    MaxpoolLayer,
    RouteLayer,
    ShortcutLayer,
    UpsampleLayer,
    YoloLayer,
)
from edgeprune.models.cfg_writer import write_cfg_text
from edgeprune.models.shapes import infer_shapes, input_channels

# Darknet divides by sqrt(variance) + 1e-6 at inference; OpenCV's Darknet reader uses
# sqrt(variance + 1e-6). We match OpenCV (measured: identical outputs even for variances near
# 1e-4), which is also within float noise of Darknet for trained weights.
BN_EPS = 1e-6
BN_MOMENTUM = 0.03


class Mish(nn.Module):
    # Written out (not nn.Mish) so the legacy ONNX exporter emits plain Softplus/Tanh/Mul at
    # opset 17, which every runtime (TensorRT 8 included) supports.
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


def make_activation(name: str) -> nn.Module:
    """Darknet activation by cfg name."""
    if name == "leaky":
        return nn.LeakyReLU(0.1)
    if name == "relu":
        return nn.ReLU()
    if name == "mish":
        return Mish()
    if name == "swish":
        return nn.SiLU()
    if name == "logistic":
        return nn.Sigmoid()
    if name == "linear":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}")


class ConvUnit(nn.Module):
    def __init__(self, in_channels: int, layer: ConvLayer) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, layer.filters, layer.size, layer.stride,
                              layer.padding_pixels, groups=layer.groups,
                              bias=not layer.batch_normalize)
        self.bn = (nn.BatchNorm2d(layer.filters, eps=BN_EPS, momentum=BN_MOMENTUM)
                   if layer.batch_normalize else None)
        self.act = make_activation(layer.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class DarknetMaxpool(nn.Module):
    """Darknet's maxpool: `padding` (default size-1) split as pad//2 before, the rest after."""

    def __init__(self, layer: MaxpoolLayer) -> None:
        super().__init__()
        self.size = layer.size
        self.stride = layer.stride
        self.total_padding = layer.total_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before = self.total_padding // 2
        pads = []
        for length in (x.shape[-1], x.shape[-2]):
            out = (length + self.total_padding - self.size) // self.stride + 1
            after = max(0, (out - 1) * self.stride + self.size - length - before)
            pads += [before, after]
        if any(pads):
            x = F.pad(x, pads, value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)


class Upsample(nn.Module):
    def __init__(self, layer: UpsampleLayer) -> None:
        super().__init__()
        self.stride = layer.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=float(self.stride), mode="nearest")


class Shortcut(nn.Module):
    def __init__(self, layer: ShortcutLayer) -> None:
        super().__init__()
        self.act = make_activation(layer.activation)

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return self.act(x + other)


class Route(nn.Module):
    def __init__(self, layer: RouteLayer) -> None:
        super().__init__()
        self.groups = layer.groups
        self.group_id = layer.group_id

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.groups > 1:
            inputs = tuple(t.chunk(self.groups, dim=1)[self.group_id] for t in inputs)
        return inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)


class YoloDecode(nn.Module):
    """Darknet's [yolo] layer: raw head output to boxes in input pixels (in eval mode)."""

    def __init__(self, layer: YoloLayer) -> None:
        super().__init__()
        self.num_anchors = len(layer.mask)
        self.num_outputs = layer.classes + 5
        self.scale_x_y = layer.scale_x_y
        anchors = torch.tensor(layer.masked_anchors, dtype=torch.float32)
        self.register_buffer("anchors", anchors, persistent=False)  # (A, 2) input pixels

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        return (x.view(batch, self.num_anchors, self.num_outputs, height, width)
                .permute(0, 1, 3, 4, 2).contiguous())

    def forward(self, x: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        p = self.raw(x)
        if self.training:
            return p
        batch, _, height, width = x.shape
        ys, xs = torch.meshgrid(torch.arange(height, device=x.device, dtype=x.dtype),
                                torch.arange(width, device=x.device, dtype=x.dtype),
                                indexing="ij")
        grid = torch.stack((xs, ys), dim=-1)  # (H, W, 2) as (x, y)
        stride = torch.tensor([image_hw[1] / width, image_hw[0] / height],
                              device=x.device, dtype=x.dtype)
        s = self.scale_x_y
        xy = (torch.sigmoid(p[..., 0:2]) * s - (s - 1) / 2 + grid) * stride
        wh = torch.exp(p[..., 2:4]) * self.anchors.view(1, -1, 1, 1, 2).to(x.dtype)
        rest = torch.sigmoid(p[..., 4:])
        return torch.cat((xy, wh, rest), dim=-1).view(batch, -1, self.num_outputs)


class DarknetModel(nn.Module):
    """A YOLOv3-family detector whose structure is exactly its Darknet cfg."""

    def __init__(self, cfg: DarknetCfg) -> None:
        super().__init__()
        self.cfg = cfg
        shapes = infer_shapes(cfg)
        modules: list[nn.Module] = []
        for index, layer in enumerate(cfg.layers):
            if isinstance(layer, ConvLayer):
                modules.append(ConvUnit(input_channels(cfg, shapes, index), layer))
            elif isinstance(layer, MaxpoolLayer):
                modules.append(DarknetMaxpool(layer))
            elif isinstance(layer, UpsampleLayer):
                modules.append(Upsample(layer))
            elif isinstance(layer, ShortcutLayer):
                modules.append(Shortcut(layer))
            elif isinstance(layer, RouteLayer):
                modules.append(Route(layer))
            elif isinstance(layer, YoloLayer):
                modules.append(YoloDecode(layer))
        self.layers = nn.ModuleList(modules)
        self.sources = [cfg.source_indices(i) for i in range(len(cfg.layers))]
        # Outputs read by a layer other than the next one must be kept during forward.
        self._kept = {s for i, srcs in enumerate(self.sources) for s in srcs if s != i - 1}

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    @property
    def heads(self) -> list[YoloDecode]:
        return [m for m in self.layers if isinstance(m, YoloDecode)]

    @property
    def input_channels(self) -> int:
        return self.cfg.net.channels

    def cfg_text(self) -> str:
        """The network as a Darknet .cfg (what an ONNX export carries in its metadata)."""
        return write_cfg_text(self.cfg)

    def forward(self, images: torch.Tensor):
        image_hw = (images.shape[-2], images.shape[-1])
        kept: dict[int, torch.Tensor] = {}
        head_outputs = []
        x = images
        for index, module in enumerate(self.layers):
            if isinstance(module, YoloDecode):
                head_outputs.append(module(x, image_hw))
            else:
                inputs = [x if s == index - 1 else kept[s] for s in self.sources[index]]
                x = module(*inputs) if inputs else module(images)
            if index in self._kept:
                kept[index] = x
        if self.training:
            return head_outputs
        return torch.cat(head_outputs, dim=1)
