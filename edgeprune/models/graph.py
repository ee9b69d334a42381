"""Structure of a cfg graph that several modules need: residual blocks, who reads whom, and
which output channels are coupled (must be pruned together)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.models.cfg import ConvLayer, DarknetCfg, RouteLayer, ShortcutLayer, YoloLayer


@dataclass(frozen=True)
class ResidualBlock:
    """Layers `start..end` (inclusive) whose last one, a [shortcut], adds layer `start - 1`.

    `index` is the block's position among all residual blocks (the number PruneSpecs use).
    """

    index: int
    start: int
    end: int
    channels: int

    @property
    def layers(self) -> range:
        return range(self.start, self.end + 1)


def consumers(cfg: DarknetCfg) -> list[list[int]]:
    """For each layer, the layers that read its output."""
    readers: list[list[int]] = [[] for _ in cfg.layers]
    for index in range(len(cfg.layers)):
        for source in cfg.source_indices(index):
            readers[source].append(index)
    return readers


def residual_blocks(cfg: DarknetCfg) -> list[ResidualBlock]:
    """Residual blocks: a shortcut adding its input to a body of convs that nothing else reads.

    A block can be dropped as a whole (its output then equals its input) only when the body is
    private to it, so that is part of the definition.
    """
    readers = consumers(cfg)
    blocks = []
    for end, layer in enumerate(cfg.layers):
        if not isinstance(layer, ShortcutLayer):
            continue
        _, source = cfg.source_indices(end)
        body = range(source + 1, end)
        if not body or not all(isinstance(cfg.layers[i], ConvLayer) for i in body):
            continue
        if any(r != i + 1 for i in body for r in readers[i]):
            continue
        channels = cfg.layers[end - 1].filters
        blocks.append(ResidualBlock(len(blocks), source + 1, end, channels))
    return blocks


# ------------------------------------------------------------------------- channel coupling

INPUT_SET = 0  # the network input's channels: the image, never pruned


@dataclass(frozen=True)
class ChannelSegment:
    """Channels `start..stop` (exclusive) of channel set `set_id`, as they appear in an output."""

    set_id: int
    start: int
    stop: int

    @property
    def width(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ChannelSet:
    """Output channels that must be pruned together, and the convs that produce them.

    Convs joined by shortcuts produce one set (the sum needs the same channels on both sides).
    `fixed` says why the set keeps every channel, or is None when it may be pruned.
    """

    id: int
    width: int
    producers: tuple[int, ...]
    fixed: str | None = None

    @property
    def prunable(self) -> bool:
        return self.fixed is None


@dataclass(frozen=True)
class ChannelCoupling:
    """Every layer's output channels described as pieces of channel sets.

    A conv's output is one whole set; a route's output is the concatenation of its inputs'
    pieces; maxpool, upsample, yolo and shortcut outputs are their input's pieces.
    """

    sets: tuple[ChannelSet, ...]  # sets[i].id == i; sets[INPUT_SET] is the network input
    segments: tuple[tuple[ChannelSegment, ...], ...]  # per layer

    def set_of(self, conv_index: int) -> ChannelSet:
        """The channel set a conv layer produces."""
        (segment,) = self.segments[conv_index]
        return self.sets[segment.set_id]


class _Sets:
    """Union-find over channel sets; a merged set is fixed if any of its parts is."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.width: list[int] = []
        self.producers: list[list[int]] = []
        self.fixed: list[str | None] = []

    def new(self, width: int, producer: int | None, fixed: str | None = None) -> int:
        self.parent.append(len(self.parent))
        self.width.append(width)
        self.producers.append([] if producer is None else [producer])
        self.fixed.append(fixed)
        return len(self.parent) - 1

    def find(self, set_id: int) -> int:
        while self.parent[set_id] != set_id:
            self.parent[set_id] = self.parent[self.parent[set_id]]
            set_id = self.parent[set_id]
        return set_id

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        low, high = min(a, b), max(a, b)  # the lower id survives, so ids follow layer order
        self.parent[high] = low
        self.producers[low] += self.producers[high]
        self.fixed[low] = self.fixed[low] or self.fixed[high]

    def fix(self, segments: tuple[ChannelSegment, ...], reason: str) -> None:
        for segment in segments:
            root = self.find(segment.set_id)
            self.fixed[root] = self.fixed[root] or reason


def _whole(segments: tuple[ChannelSegment, ...], sets: _Sets) -> int | None:
    """The set id when `segments` is exactly one whole set, else None."""
    if len(segments) != 1:
        return None
    (segment,) = segments
    if segment.start != 0 or segment.stop != sets.width[sets.find(segment.set_id)]:
        return None
    return segment.set_id


def _chunk(segments: tuple[ChannelSegment, ...], part: int,
           parts: int) -> tuple[ChannelSegment, ...]:
    """Channels `part` of `parts` equal chunks of an output made of `segments`."""
    total = sum(s.width for s in segments)
    lo, hi = total // parts * part, total // parts * (part + 1)
    chunk, offset = [], 0
    for s in segments:
        start, stop = max(lo, offset), min(hi, offset + s.width)
        if start < stop:
            chunk.append(ChannelSegment(s.set_id, s.start + start - offset,
                                        s.start + stop - offset))
        offset += s.width
    return tuple(chunk)


def channel_coupling(cfg: DarknetCfg) -> ChannelCoupling:
    """Which output channels are coupled, found from the graph alone (no per-model tables).

    Choices that keep pruning safe (the set keeps all its channels, with the reason recorded):
    the convs right before a [yolo] layer (their outputs are the anchors x (5 + classes)
    predictions); anything a [route] with groups/group_id splits (yolov4-tiny style: pruning
    would move the split point); the inputs and outputs of grouped convs (groups > 1); channel
    ranges a shortcut adds that are not whole sets on both sides.
    """
    sets = _Sets()
    sets.new(cfg.net.channels, None, "network input")
    segments: list[tuple[ChannelSegment, ...]] = []
    previous = (ChannelSegment(INPUT_SET, 0, cfg.net.channels),)
    for index, layer in enumerate(cfg.layers):
        if isinstance(layer, ConvLayer):
            own = sets.new(layer.filters, index)
            if layer.groups > 1:
                sets.fix(previous, f"read by the grouped conv at layer {index}")
                sets.fixed[own] = f"output of a grouped conv (groups={layer.groups})"
            out = (ChannelSegment(own, 0, layer.filters),)
        elif isinstance(layer, ShortcutLayer):
            other = segments[cfg.source_indices(index)[1]]
            a, b = _whole(previous, sets), _whole(other, sets)
            if a is not None and b is not None:
                sets.union(a, b)
            else:
                reason = f"added by the shortcut at layer {index} as a partial channel range"
                sets.fix(previous, reason)
                sets.fix(other, reason)
            out = previous
        elif isinstance(layer, RouteLayer):
            inputs = [segments[i] for i in cfg.source_indices(index)]
            if layer.groups > 1:
                for source in inputs:
                    sets.fix(source, f"split by the [route] at layer {index} "
                                     f"(groups={layer.groups}, group_id={layer.group_id})")
                inputs = [_chunk(s, layer.group_id, layer.groups) for s in inputs]
            out = tuple(s for source in inputs for s in source)
        elif isinstance(layer, YoloLayer):
            sets.fix(previous, f"yolo-head output (feeds the [yolo] layer {index})")
            out = previous
        else:  # maxpool, upsample: same channels
            out = previous
        segments.append(out)
        previous = out
    return _canonical(sets, segments)


def _canonical(sets: _Sets, segments: list[tuple[ChannelSegment, ...]]) -> ChannelCoupling:
    roots = sorted({sets.find(i) for i in range(len(sets.parent))})
    number = {root: n for n, root in enumerate(roots)}
    final = tuple(ChannelSet(number[r], sets.width[r], tuple(sorted(sets.producers[r])),
                             sets.fixed[r]) for r in roots)
    renamed = tuple(tuple(ChannelSegment(number[sets.find(s.set_id)], s.start, s.stop)
                          for s in out) for out in segments)
    return ChannelCoupling(final, renamed)
