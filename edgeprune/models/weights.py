"""Darknet .weights: read into and write from a `DarknetModel`, in the cfg's own layer order.

Format: a header of int32 major, minor, revision, then `seen` (images seen in training) as
int64 when major*10 + minor >= 2, else int32; then, for every [convolutional] layer in order,
float32 arrays: with batch norm, bias, scale, rolling mean, rolling variance; without, the conv
bias; then the conv weights (filters x channels/groups x size x size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgeprune.atomic import atomic_write
from edgeprune.errors import WeightsError
from edgeprune.models.darknet import ConvUnit, DarknetModel


@dataclass(frozen=True)
class WeightsHeader:
    major: int = 0
    minor: int = 2
    revision: int = 0
    seen: int = 0

    @property
    def seen_is_64bit(self) -> bool:
        return self.major * 10 + self.minor >= 2 and self.major < 1000 and self.minor < 1000

    @property
    def nbytes(self) -> int:
        return 12 + (8 if self.seen_is_64bit else 4)

    def to_bytes(self) -> bytes:
        head = np.array([self.major, self.minor, self.revision], dtype="<i4").tobytes()
        seen_type = "<i8" if self.seen_is_64bit else "<i4"
        return head + np.array([self.seen], dtype=seen_type).tobytes()


def _conv_units(model: DarknetModel, upto: int | None) -> list[tuple[int, ConvUnit]]:
    units = [(i, m) for i, m in enumerate(model.layers) if isinstance(m, ConvUnit)]
    return [(i, m) for i, m in units if upto is None or i < upto]


def _tensors_in_file_order(unit: ConvUnit) -> list[torch.Tensor]:
    if unit.bn is not None:
        return [unit.bn.bias, unit.bn.weight, unit.bn.running_mean, unit.bn.running_var,
                unit.conv.weight]
    return [unit.conv.bias, unit.conv.weight]


def darknet_float_count(model: DarknetModel, upto: int | None = None) -> int:
    """Floats a .weights file holds for this model (after the header)."""
    return sum(t.numel() for _, unit in _conv_units(model, upto)
               for t in _tensors_in_file_order(unit))


def read_darknet_weights(model: DarknetModel, path: str | Path,
                         upto: int | None = None) -> WeightsHeader:
    """Load `path` into `model`; returns the header so a later write can reproduce it.

    `upto` loads only the conv layers before cfg layer `upto` (for backbone files such as
    darknet53.conv.74, whose cutoff the caller states; it is never guessed from the file name);
    the file must then hold exactly those layers' floats.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"{path}: file not found") from None
    if len(data) < 16:
        raise WeightsError(f"{path}: {len(data)} bytes is too short for a Darknet header")
    major, minor, revision = (int(v) for v in np.frombuffer(data[:12], dtype="<i4"))
    probe = WeightsHeader(major, minor, revision)
    seen_type = "<i8" if probe.seen_is_64bit else "<i4"
    seen = int(np.frombuffer(data[12:probe.nbytes], dtype=seen_type)[0])
    header = WeightsHeader(major, minor, revision, seen)

    body = data[header.nbytes:]
    expected = darknet_float_count(model, upto)
    found, remainder = divmod(len(body), 4)
    if found != expected or remainder:
        what = "truncated" if found < expected else "larger than the network"
        raise WeightsError(
            f"{path}: the cfg needs {expected:,} floats after the {header.nbytes}-byte header, "
            f"the file holds {found:,}{f' and {remainder} stray bytes' if remainder else ''} "
            f"({what}; is it the weights of a different cfg?)")
    floats = np.frombuffer(body, dtype="<f4")
    offset = 0
    with torch.no_grad():
        for _, unit in _conv_units(model, upto):
            for tensor in _tensors_in_file_order(unit):
                count = tensor.numel()
                values = torch.from_numpy(floats[offset:offset + count].copy())
                tensor.copy_(values.view_as(tensor))
                offset += count
    return header


def darknet_weights_bytes(model: DarknetModel, header: WeightsHeader | None = None) -> bytes:
    header = header or WeightsHeader()
    parts = [header.to_bytes()]
    for _, unit in _conv_units(model, None):
        for tensor in _tensors_in_file_order(unit):
            parts.append(tensor.detach().cpu().float().numpy().astype("<f4").tobytes())
    return b"".join(parts)


def write_darknet_weights(model: DarknetModel, path: str | Path,
                          header: WeightsHeader | None = None) -> None:
    """Write the model's conv and BN tensors as Darknet .weights (atomically)."""
    with atomic_write(path) as handle:
        handle.write(darknet_weights_bytes(model, header))
