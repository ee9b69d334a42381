"""Architecture hashes: the same network structure gives the same key, whatever its weights.

Latency depends on the structure (layer types, shapes, attributes), not on the weight values,
so a search that fine-tunes or re-initializes a candidate still hits the cache. For our models
the structure is the cfg's layer records without trainer-only extras, line numbers and anchor
values; an ONNX file exported by edgeprune carries its cfg and hashes the same way as the model
it came from. Any other ONNX model hashes its graph: nodes, attributes, tensor shapes and
types, with tensor names replaced by their order of appearance and no initializer values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import onnx

from edgeprune.models.cfg import DarknetCfg, YoloLayer, parse_cfg
from edgeprune.onnxio.serialize import META_CFG, load_onnx

# Integer tensors this small are shapes, axes and pads (structure); bigger ones and all float
# tensors are weights.
_STRUCTURAL_INT_ELEMENTS = 64
_INT_TYPES = {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT8,
              onnx.TensorProto.UINT8, onnx.TensorProto.INT16}


def cfg_structure(cfg: DarknetCfg) -> list:
    """The latency-relevant content of a cfg, as plain JSON data."""
    layers = []
    for layer in cfg.layers:
        record = {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer)
                  if f.name not in ("extra", "line")}
        if isinstance(layer, YoloLayer):  # anchor values are constants, their count is not
            record["anchors"] = len(layer.anchors)
        layers.append([type(layer).__name__, record])
    return [["net", {"channels": cfg.net.channels}], *layers]


def cfg_arch_hash(cfg: DarknetCfg) -> str:
    text = json.dumps(cfg_structure(cfg), sort_keys=True, separators=(",", ":"), default=list)
    return "cfg:" + hashlib.sha256(text.encode()).hexdigest()


def onnx_arch_hash(model: bytes | onnx.ModelProto, source: str = "model") -> str:
    """Hash of an ONNX model: its embedded edgeprune cfg if it has one, else its graph."""
    proto = load_onnx(model, source) if isinstance(model, bytes) else model
    metadata = {p.key: p.value for p in proto.metadata_props}
    if META_CFG in metadata:
        return cfg_arch_hash(parse_cfg(metadata[META_CFG], f"{source} (embedded cfg)"))
    digest = hashlib.sha256()
    digest.update(json.dumps(_graph_structure(proto), separators=(",", ":")).encode())
    return "onnx:" + digest.hexdigest()


def _graph_structure(proto: onnx.ModelProto) -> dict:
    names: dict[str, int] = {}

    def ref(name: str) -> int | None:
        if not name:
            return None  # an omitted optional input
        return names.setdefault(name, len(names))

    graph = proto.graph
    inputs = [[ref(v.name), _value_type(v)] for v in graph.input]
    initializers = [[ref(t.name), _tensor_structure(t)] for t in graph.initializer]
    nodes = []
    for node in graph.node:
        node_inputs = [ref(n) for n in node.input]
        node_outputs = [ref(n) for n in node.output]
        attributes = sorted([a.name, _attribute(a)] for a in node.attribute)
        nodes.append([node.domain, node.op_type, node_inputs, node_outputs, attributes])
    outputs = [[ref(v.name), _value_type(v)] for v in graph.output]
    opsets = sorted([o.domain, o.version] for o in proto.opset_import)
    return {"opsets": opsets, "inputs": inputs, "initializers": initializers, "nodes": nodes,
            "outputs": outputs}


def _value_type(value: onnx.ValueInfoProto) -> list:
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
    return [tensor.elem_type, dims]


def _tensor_structure(tensor: onnx.TensorProto) -> list:
    dims = list(tensor.dims)
    count = 1
    for d in dims:
        count *= d
    if tensor.data_type in _INT_TYPES and count <= _STRUCTURAL_INT_ELEMENTS:
        values = onnx.numpy_helper.to_array(tensor).ravel().tolist()
        return [tensor.data_type, dims, values]
    return [tensor.data_type, dims]


def _attribute(attribute: onnx.AttributeProto):
    kind = attribute.type
    if kind == onnx.AttributeProto.TENSOR:
        return _tensor_structure(attribute.t)
    if kind == onnx.AttributeProto.GRAPH:
        return _graph_structure(onnx.helper.make_model(attribute.g))
    if kind == onnx.AttributeProto.STRING:
        return attribute.s.decode("utf-8", "replace")
    if kind == onnx.AttributeProto.STRINGS:
        return [s.decode("utf-8", "replace") for s in attribute.strings]
    if kind == onnx.AttributeProto.TENSORS:
        return [_tensor_structure(t) for t in attribute.tensors]
    value = onnx.helper.get_attribute_value(attribute)
    return list(value) if isinstance(value, (list, tuple)) else value
