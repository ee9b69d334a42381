"""Structure of a cfg graph that several modules need: residual blocks and who reads whom."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprune.models.cfg import ConvLayer, DarknetCfg, ShortcutLayer


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
