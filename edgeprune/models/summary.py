"""`edgeprune info`: what a model is (layers, parameters, GFLOPs, residual blocks).

Works on built-in names, .cfg files, checkpoints and ONNX files. An ONNX file exported by
edgeprune carries its cfg, so it is summarized exactly like the model it came from; a foreign
ONNX file is summarized from its graph (Conv nodes), without residual blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.models.cfg import DarknetCfg, parse_cfg, read_cfg
from edgeprune.models.counting import layer_costs
from edgeprune.models.graph import residual_blocks
from edgeprune.models.loading import load_model, parse_imgsz
from edgeprune.models.zoo import BUILTIN_CFGS, builtin_cfg


@dataclass
class ModelSummary:
    source: str
    layers: int
    params: int
    gflops: float
    imgsz: tuple[int, int]
    classes: int
    residual_blocks: list[dict] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["imgsz"] = list(self.imgsz)
        return data


def summarize_cfg(cfg: DarknetCfg, imgsz: tuple[int, int], source: str) -> ModelSummary:
    costs = layer_costs(cfg, imgsz)
    blocks = [{"index": b.index, "layers": [b.start, b.end], "channels": b.channels}
              for b in residual_blocks(cfg)]
    return ModelSummary(source=source, layers=len(cfg.layers),
                        params=sum(c.params for c in costs),
                        gflops=sum(c.flops for c in costs) / 1e9, imgsz=imgsz,
                        classes=cfg.num_classes, residual_blocks=blocks)


def summarize(model: str, classes: int | None = None, width: float = 1.0,
              imgsz=None) -> ModelSummary:
    """Summary of a built-in name, .cfg, .pt or .onnx at input size `imgsz` (default: its own)."""
    size = parse_imgsz(imgsz) if imgsz is not None else None
    path = Path(model)
    if model in BUILTIN_CFGS:
        cfg = builtin_cfg(model, num_classes=classes or 80, width=width)
        return summarize_cfg(cfg, size or (cfg.net.height, cfg.net.width), model)
    if not path.exists():
        raise EdgepruneError(f"{model}: no such file, and not a built-in model "
                             f"({', '.join(BUILTIN_CFGS)})")
    if path.suffix == ".cfg":
        cfg = read_cfg(path)
        return summarize_cfg(cfg, size or (cfg.net.height, cfg.net.width), model)
    if path.suffix in (".pt", ".pth"):
        ckpt = load_model(path)
        return summarize_cfg(ckpt.model.cfg, size or ckpt.imgsz, model)
    if path.suffix == ".onnx":
        return _summarize_onnx(path, size)
    raise EdgepruneError(f"{model}: expected a built-in name, .cfg, .pt or .onnx")


def _summarize_onnx(path: Path, size: tuple[int, int] | None) -> ModelSummary:
    import json

    from edgeprune.onnxio.serialize import META_CFG, META_IMGSZ, read_onnx_metadata

    metadata = read_onnx_metadata(path)
    if META_CFG in metadata:
        cfg = parse_cfg(metadata[META_CFG], f"{path} (embedded cfg)")
        stored = tuple(json.loads(metadata.get(META_IMGSZ, "null")) or
                       (cfg.net.height, cfg.net.width))
        return summarize_cfg(cfg, size or stored, str(path))
    return _summarize_foreign_onnx(path, size)


def _summarize_foreign_onnx(path: Path, size: tuple[int, int] | None) -> ModelSummary:
    import numpy as np
    import onnx

    from edgeprune.onnxio.serialize import load_onnx

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EdgepruneError(f"{path}: cannot read ({exc.strerror})") from None
    if not data:
        raise EdgepruneError(f"{path}: the file is empty, not an ONNX model")
    proto = load_onnx(data, str(path))
    initialized = {t.name for t in proto.graph.initializer}
    inputs = [v for v in proto.graph.input if v.name not in initialized]
    if not inputs or not proto.graph.node:
        raise EdgepruneError(f"{path}: not an ONNX model (no graph inputs or nodes); damaged "
                             f"or not ONNX?")
    graph_input = inputs[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise EdgepruneError(f"{path}: input {graph_input.name!r} has {len(dims)} dimensions; "
                             f"expected an image input (batch, channels, height, width)")
    height, width = size or (dims[2], dims[3])
    if not height or not width:
        raise EdgepruneError(f"{path}: the input size is not fixed in the model; pass --imgsz")
    if size is not None or dims[0] == 0:
        shape = onnx.helper.make_tensor_value_info(graph_input.name, onnx.TensorProto.FLOAT,
                                                   [1, dims[1], height, width])
        graph_input.CopyFrom(shape)
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    initializers = {t.name: t for t in proto.graph.initializer}
    params = flops = 0
    convs = 0
    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        convs += 1
        weight = initializers.get(node.input[1])
        if weight is None:
            continue
        kernel = int(np.prod(weight.dims))
        params += kernel + (int(np.prod(initializers[node.input[2]].dims))
                            if len(node.input) > 2 and node.input[2] in initializers else 0)
        out = shapes.get(node.output[0])
        if out and len(out) == 4 and all(out[2:]):
            flops += 2 * kernel * out[2] * out[3]
    return ModelSummary(source=str(path), layers=convs, params=params, gflops=flops / 1e9,
                        imgsz=(height, width), classes=0,
                        note="foreign ONNX: counted from Conv nodes (BN folded into them); "
                             "'layers' counts Conv nodes; residual blocks unknown")
