"""ONNX export of a detector (an `edgeprune.models.DarknetModel`), checked against torch with
ONNX Runtime before it is kept, and reading ONNX files back (the model, its metadata).

Output contract (what the Detector, the latency backends and TensorRT rely on): one input
`images` (batch, channels, H, W) float32 RGB in [0, 1]; one output `detections`
(batch, N, 5 + classes): cx, cy, w, h in input pixels, objectness, class probabilities, with
N = sum over yolo layers of anchors x H x W. The cfg, class names and input size ride along as
metadata, so an .onnx file alone is enough for `edgeprune info` and the Detector.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx
import torch

from edgeprune.atomic import atomic_write_bytes
from edgeprune.errors import EdgepruneError, ExportError


class ExportableModel(Protocol):
    """What the export needs of a model: a torch module (images in, the detections tensor
    out) that knows its input channels and its cfg text. DarknetModel is one; this package
    sits below edgeprune.models and never imports it, not even for a type."""

    input_channels: int

    def cfg_text(self) -> str: ...

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

DEFAULT_OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAME = "detections"
META_CFG = "edgeprune.cfg"
META_NAMES = "edgeprune.names"
META_IMGSZ = "edgeprune.imgsz"
META_VERSION = "edgeprune.version"


@dataclass(frozen=True)
class OnnxExport:
    path: Path | None
    model_bytes: bytes
    max_abs_diff: float | None  # torch vs ONNX Runtime on the check input; None if unchecked


def onnx_bytes(model: ExportableModel, imgsz: tuple[int, int], names: list[str] | None = None,
               batch: int = 1, dynamic_batch: bool = True, opset: int = DEFAULT_OPSET) -> bytes:
    """Serialized ONNX model of `model` at input size `imgsz` (height, width)."""
    if opset < DEFAULT_OPSET:
        raise EdgepruneError(f"opset {opset} is too old; edgeprune exports opset "
                             f"{DEFAULT_OPSET} or later")
    module = copy.deepcopy(model).cpu().float().eval()
    dummy = torch.zeros(batch, model.input_channels, *imgsz)
    buffer = io.BytesIO()
    dynamic_axes = ({INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
                    if dynamic_batch else None)
    traced_shape: list[tuple[int, ...]] = []  # the output's shape, seen as the export traces
    hook = module.register_forward_hook(
        lambda _module, _inputs, output: traced_shape.append(tuple(output.shape)))
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of torch.export, but it is ~15x
        # faster for these static graphs, which matters when a search exports every candidate.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (dummy,), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    hook.remove()
    proto = onnx.load_from_string(buffer.getvalue())
    _name_output_dims(proto, traced_shape[-1], dynamic_batch)
    from edgeprune import __version__

    metadata = {META_CFG: model.cfg_text(), META_IMGSZ: json.dumps(list(imgsz)),
                META_VERSION: __version__}
    if names is not None:
        metadata[META_NAMES] = json.dumps(list(names))
    onnx.helper.set_model_props(proto, metadata)
    proto.producer_name = "edgeprune"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _name_output_dims(proto: onnx.ModelProto, shape: tuple[int, ...],
                      dynamic_batch: bool) -> None:
    """Give the output its real dimensions: the exporter cannot see through the final Concat
    and leaves generated names (`Concatdetections_dim_1`) where the box count and the
    5 + classes columns are fixed numbers, which TensorRT profiles and readers of the file
    would otherwise have to guess."""
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    for index, dim in enumerate(dims):
        if index == 0 and dynamic_batch:
            dim.dim_param = "batch"
        else:
            dim.dim_value = shape[index]


def compare_with_torch(model: ExportableModel, model_bytes: bytes, imgsz: tuple[int, int],
                       seed: int = 0) -> tuple[float, float]:
    """Torch vs ONNX Runtime on a seeded random image: (max abs diff, max diff relative to
    max(1, |value|)). The second is the fair check for pixel coordinates, whose float32
    resolution at 1000 px is already 6e-5."""
    import onnxruntime as ort

    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, model.input_channels, *imgsz, generator=generator)
    module = copy.deepcopy(model).cpu().float().eval()
    with torch.no_grad():
        expected = module(image).numpy()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: image.numpy()})[0]
    if expected.shape != got.shape or not np.array_equal(np.isfinite(expected),
                                                          np.isfinite(got)):
        return float("inf"), float("inf")
    finite = np.isfinite(expected)
    diff = np.abs(expected[finite] - got[finite])
    scaled = diff / np.maximum(1.0, np.abs(expected[finite]))
    return float(diff.max(initial=0.0)), float(scaled.max(initial=0.0))


def export_onnx(model: ExportableModel, path: str | Path | None, imgsz: tuple[int, int],
                names: list[str] | None = None, *, batch: int = 1, dynamic_batch: bool = True,
                opset: int = DEFAULT_OPSET, check: bool = True,
                tolerance: float = 1e-3) -> OnnxExport:
    """Export, verify against torch with ONNX Runtime, then write atomically (if `path`).

    The check fails when any output differs by more than `tolerance` x max(1, |value|): float32
    kernels of two runtimes differ by ~1e-5 relative through a hundred layers, while a wrong
    operator differs by whole units.
    """
    data = onnx_bytes(model, imgsz, names, batch=batch, dynamic_batch=dynamic_batch, opset=opset)
    diff = None
    if check:
        diff, scaled = compare_with_torch(model, data, imgsz)
        if scaled > tolerance:
            raise ExportError(f"ONNX Runtime disagrees with torch by {diff:.3g} (more than "
                              f"{tolerance:g} x max(1, |value|)); the export is not written")
    if path is not None:
        atomic_write_bytes(path, data)
    return OnnxExport(Path(path) if path is not None else None, data, diff)


def read_onnx_metadata(path_or_bytes: str | Path | bytes) -> dict[str, str]:
    """The metadata_props of an ONNX model (our cfg, names and imgsz when it is ours)."""
    try:
        if isinstance(path_or_bytes, bytes):
            proto = onnx.load_from_string(path_or_bytes)
        else:
            proto = onnx.load(str(path_or_bytes), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise EdgepruneError(f"{path_or_bytes if not isinstance(path_or_bytes, bytes) else 'model'}"
                             f": not a loadable ONNX model ({exc})") from None
    return {p.key: p.value for p in proto.metadata_props}


def load_onnx(model_bytes: bytes, source: str = "model") -> onnx.ModelProto:
    try:
        return onnx.load_from_string(model_bytes)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise EdgepruneError(f"{source}: not a loadable ONNX model ({exc})") from None
