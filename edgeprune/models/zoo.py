"""Built-in cfgs: yolov3, yolov3-tiny, yolov3-spp, written here from the published architectures.

Layer order and route indices follow Darknet's published cfg files exactly, so a built-in model
at width 1.0 reads the published .weights and writes cfgs Darknet accepts. `width` scales every
hidden layer's filters (the heads keep (classes + 5) x anchors outputs) for small test and demo
models.
"""

from __future__ import annotations

from collections.abc import Callable

from edgeprune.errors import EdgepruneError
from edgeprune.models.cfg import (
    ConvLayer,
    DarknetCfg,
    Layer,
    MaxpoolLayer,
    NetSection,
    RouteLayer,
    ShortcutLayer,
    UpsampleLayer,
    YoloLayer,
    validate_cfg,
)

YOLOV3_ANCHORS = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119),
                  (116, 90), (156, 198), (373, 326))
YOLOV3_TINY_ANCHORS = ((10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319))

# Darknet's training settings from the published cfgs; kept so exported cfgs train in Darknet.
_NET_EXTRA = (("batch", "64"), ("subdivisions", "16"), ("momentum", "0.9"), ("decay", "0.0005"),
              ("angle", "0"), ("saturation", "1.5"), ("exposure", "1.5"), ("hue", ".1"),
              ("learning_rate", "0.001"), ("burn_in", "1000"), ("max_batches", "500200"),
              ("policy", "steps"), ("steps", "400000,450000"), ("scales", ".1,.1"))
_YOLO_EXTRA = (("jitter", ".3"), ("ignore_thresh", ".7"), ("truth_thresh", "1"), ("random", "1"))


class _Builder:
    """Appends layers and remembers indices, so route targets are computed, not hand-counted."""

    def __init__(self, width: float, num_classes: int, anchors, round_to: int = 1) -> None:
        self.width = width
        self.num_classes = num_classes
        self.anchors = anchors
        self.round_to = round_to
        self.layers: list[Layer] = []

    def scaled(self, filters: int) -> int:
        """Filters at the width; with `round_to`, the nearest multiple of it (at least one),
        as pruned networks keep them: kernels run fastest on such channel counts."""
        step = self.round_to
        return max(step, int(filters * self.width / step + 0.5) * step)

    def conv(self, filters: int, size: int, stride: int = 1) -> int:
        self.layers.append(ConvLayer(filters=self.scaled(filters), size=size, stride=stride,
                                     pad=True, batch_normalize=True, activation="leaky"))
        return len(self.layers) - 1

    def shortcut(self) -> int:
        self.layers.append(ShortcutLayer(from_=-3, activation="linear"))
        return len(self.layers) - 1

    def route(self, *layers: int) -> None:
        self.layers.append(RouteLayer(layers=layers))

    def upsample(self) -> None:
        self.layers.append(UpsampleLayer(stride=2))

    def maxpool(self, size: int, stride: int) -> None:
        self.layers.append(MaxpoolLayer(size=size, stride=stride))

    def detect(self, mask: tuple[int, ...]) -> None:
        outputs = len(mask) * (self.num_classes + 5)
        self.layers.append(ConvLayer(filters=outputs, size=1, stride=1, pad=True,
                                     batch_normalize=False, activation="linear"))
        self.layers.append(YoloLayer(mask=mask, anchors=self.anchors, classes=self.num_classes,
                                     num=len(self.anchors), extra=_YOLO_EXTRA))

    def darknet53(self) -> tuple[int, int]:
        """Darknet-53 backbone; returns the indices of the stride-8 and stride-16 outputs."""
        self.conv(32, 3)
        ends = []
        for filters, blocks in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
            self.conv(filters, 3, 2)
            for _ in range(blocks):
                self.conv(filters // 2, 1)
                self.conv(filters, 3)
                ends.append(self.shortcut())
        return ends[1 + 2 + 8 - 1], ends[1 + 2 + 8 + 8 - 1]

    def cfg(self, height: int, width: int) -> DarknetCfg:
        net = NetSection(width=width, height=height, channels=3, extra=_NET_EXTRA)
        return DarknetCfg(net=net, layers=tuple(self.layers), source="<built-in>")


def _yolov3_heads(b: _Builder, stride8: int, stride16: int, spp: bool) -> None:
    b.conv(512, 1)
    b.conv(1024, 3)
    b.conv(512, 1)
    if spp:
        b.maxpool(5, 1)
        b.route(-2)
        b.maxpool(9, 1)
        b.route(-4)
        b.maxpool(13, 1)
        b.route(-1, -3, -5, -6)
        b.conv(512, 1)
    b.conv(1024, 3)
    b.conv(512, 1)
    b.conv(1024, 3)
    b.detect((6, 7, 8))
    for filters, skip, mask in ((256, stride16, (3, 4, 5)), (128, stride8, (0, 1, 2))):
        b.route(-4)
        b.conv(filters, 1)
        b.upsample()
        b.route(-1, skip)
        for _ in range(3):
            b.conv(filters, 1)
            b.conv(filters * 2, 3)
        b.detect(mask)


def yolov3_cfg(num_classes: int = 80, width: float = 1.0, imgsz: int = 416,
               round_to: int = 1) -> DarknetCfg:
    b = _Builder(width, num_classes, YOLOV3_ANCHORS, round_to)
    _yolov3_heads(b, *b.darknet53(), spp=False)
    return b.cfg(imgsz, imgsz)


def yolov3_spp_cfg(num_classes: int = 80, width: float = 1.0, imgsz: int = 608,
                   round_to: int = 1) -> DarknetCfg:
    b = _Builder(width, num_classes, YOLOV3_ANCHORS, round_to)
    _yolov3_heads(b, *b.darknet53(), spp=True)
    return b.cfg(imgsz, imgsz)


def yolov3_tiny_cfg(num_classes: int = 80, width: float = 1.0, imgsz: int = 416,
                    round_to: int = 1) -> DarknetCfg:
    b = _Builder(width, num_classes, YOLOV3_TINY_ANCHORS, round_to)
    for filters in (16, 32, 64, 128, 256):
        b.conv(filters, 3)
        b.maxpool(2, 2)
    stride16 = len(b.layers) - 2  # the 256-filter conv, routed to by the second head
    b.conv(512, 3)
    b.maxpool(2, 1)
    b.conv(1024, 3)
    b.conv(256, 1)
    b.conv(512, 3)
    b.detect((3, 4, 5))
    b.route(-4)
    b.conv(128, 1)
    b.upsample()
    b.route(-1, stride16)
    b.conv(256, 3)
    b.detect((0, 1, 2))
    return b.cfg(imgsz, imgsz)


BUILTIN_CFGS: dict[str, Callable[..., DarknetCfg]] = {
    "yolov3": yolov3_cfg,
    "yolov3-tiny": yolov3_tiny_cfg,
    "yolov3-spp": yolov3_spp_cfg,
}


def builtin_cfg(name: str, num_classes: int = 80, width: float = 1.0,
                imgsz: int | None = None, round_to: int = 1) -> DarknetCfg:
    """The built-in cfg `name` for `num_classes` classes at width multiplier `width` (filter
    counts rounded to multiples of `round_to`)."""
    if name not in BUILTIN_CFGS:
        raise EdgepruneError(f"unknown built-in model {name!r} "
                             f"(built-in: {', '.join(BUILTIN_CFGS)})")
    if not 0 < width <= 4:
        raise EdgepruneError(f"width multiplier must be in (0, 4], got {width}")
    if num_classes < 1:
        raise EdgepruneError(f"num_classes must be at least 1, got {num_classes}")
    if round_to < 1:
        raise EdgepruneError(f"round_to must be at least 1, got {round_to}")
    kwargs = {} if imgsz is None else {"imgsz": imgsz}
    cfg = BUILTIN_CFGS[name](num_classes=num_classes, width=width, round_to=round_to, **kwargs)
    validate_cfg(cfg)
    return cfg.replace(source=f"<built-in {name}>")
