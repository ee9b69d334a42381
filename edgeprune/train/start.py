"""The model a training run starts from: architecture, class count and starting weights.

The architecture is `model` (a built-in name or a Darknet .cfg) when given, else that of the
starting weights. When the class count differs from the dataset's (a COCO-trained yolov3 tuned
on 5 RoboMaster classes), the [yolo] layers and the convolutions feeding them are resized, as
Darknet users do by hand, and every starting tensor whose shape still fits is carried over.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from edgeprune.errors import EdgepruneError
from edgeprune.models.cfg import ConvLayer, DarknetCfg, YoloLayer, read_cfg
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.models.darknet import DarknetModel
from edgeprune.models.loading import load_model
from edgeprune.models.shapes import infer_shapes
from edgeprune.models.zoo import BUILTIN_CFGS, builtin_cfg


@dataclass
class StartModel:
    model: DarknetModel
    description: str  # for provenance and the summary: "yolov3 width 0.25", "m.cfg + m.weights"
    transferred: tuple[int, int] | None = None  # tensors carried over / tensors in the model
    note: str = ""


def with_num_classes(cfg: DarknetCfg, num_classes: int) -> DarknetCfg:
    """`cfg` with every [yolo] layer at `num_classes` and the convolutions before them resized."""
    layers = list(cfg.layers)
    for index in cfg.yolo_indices:
        head = layers[index]
        assert isinstance(head, YoloLayer)
        feeder = layers[index - 1]
        assert isinstance(feeder, ConvLayer)  # validate_cfg guarantees it
        layers[index] = dataclasses.replace(head, classes=num_classes)
        layers[index - 1] = dataclasses.replace(feeder,
                                                filters=len(head.mask) * (num_classes + 5))
    return cfg.replace(layers=tuple(layers))


def transfer_weights(source: DarknetModel, target: DarknetModel) -> tuple[int, int]:
    """Copy every tensor of `source` whose name and shape match into `target`."""
    source_state = source.state_dict()
    target_state = target.state_dict()
    matched = {name: value for name, value in source_state.items()
               if name in target_state and target_state[name].shape == value.shape}
    target.load_state_dict(matched, strict=False)
    return len(matched), len(target_state)


def _architecture(model: str, width: float, num_classes: int) -> tuple[DarknetCfg, str]:
    if model in BUILTIN_CFGS:
        return builtin_cfg(model, num_classes=num_classes, width=width), \
            f"{model} width {width:g}"
    path = Path(model)
    if path.suffix != ".cfg":
        raise EdgepruneError(f"{model}: --model takes a built-in name "
                             f"({', '.join(BUILTIN_CFGS)}) or a Darknet .cfg file")
    cfg = read_cfg(path)
    if width != 1.0:
        raise EdgepruneError(f"{model}: --width applies to built-in models only; a .cfg "
                             f"states its own filter counts")
    return cfg, str(path)


def start_model(num_classes: int, model: str | None = None, width: float = 1.0,
                weights: str | Path | None = None, cfg: str | Path | None = None,
                checkpoint: Checkpoint | None = None,
                imgsz: tuple[int, int] | None = None) -> StartModel:
    """Build the network to train for `num_classes` classes.

    `model`: built-in name or .cfg (architecture). `weights`: starting weights, a checkpoint
    (.pt) or Darknet .weights (with `cfg`). `checkpoint`: starting weights already in memory.
    At least one of `model`, `weights`, `checkpoint` is needed. `imgsz` (h, w) becomes the
    cfg's [net] size, so the model states the size it was trained at.
    """
    start: Checkpoint | None = checkpoint
    if start is None and weights is not None:
        start = load_model(weights, cfg)
    elif weights is None and cfg is not None and model is None:
        model = str(cfg)
    if model is None and start is None:
        raise EdgepruneError("nothing to train: give --model (yolov3, yolov3-tiny, FILE.cfg) "
                             "and/or starting --weights")
    if model is not None:
        architecture, description = _architecture(model, width, num_classes)
    else:
        architecture = start.model.cfg
        description = str(weights) if weights is not None else "in-memory model"
    note = ""
    if architecture.num_classes != num_classes:
        note = (f"{description}: [yolo] layers resized from {architecture.num_classes} to "
                f"{num_classes} classes (the dataset's)")
        architecture = with_num_classes(architecture, num_classes)
    if imgsz is not None:
        architecture = architecture.replace(net=dataclasses.replace(
            architecture.net, height=imgsz[0], width=imgsz[1]))
    built = DarknetModel(architecture)
    transferred = None
    if start is not None:
        with torch.no_grad():
            transferred = transfer_weights(start.model, built)
        if transferred[0] == 0:
            raise EdgepruneError(f"{weights}: no tensor of the starting weights fits the "
                                 f"model {description}")
        if weights is not None and model is not None:
            description += f" from {weights}"
    return StartModel(built, description, transferred, note)


def initialize_head_biases(model: DarknetModel, imgsz: tuple[int, int]) -> None:
    """Start a fresh model's heads near the data's base rates instead of at 0.5 everywhere:
    objectness for about 8 objects an image, class probabilities near 1 / classes. Without
    this, the first hundreds of steps only push every cell's objectness down."""
    shapes = infer_shapes(model.cfg, imgsz)
    with torch.no_grad():
        for index in model.cfg.yolo_indices:
            head, feeder = model.layers[index], model.layers[index - 1]
            if feeder.conv.bias is None:
                continue
            cells = shapes[index].height * shapes[index].width
            per_anchor = feeder.conv.bias.view(head.num_anchors, head.num_outputs)
            per_anchor[:, 4] += math.log(8 / cells)
            per_anchor[:, 5:] += math.log(0.6 / max(head.num_outputs - 5 - 0.99, 0.01))
