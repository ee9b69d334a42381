"""Write a model as Darknet files (.cfg, .weights, .names) that Darknet and OpenCV can read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edgeprune.filesets import write_file_set
from edgeprune.models.cfg_writer import write_cfg_text
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.models.weights import WeightsHeader, darknet_weights_bytes


def export_darknet(ckpt: Checkpoint, output: str | Path, stem: str = "model") -> dict[str, Path]:
    """Write `<stem>.cfg/.weights/.names` into folder `output`, or beside `output` if it ends
    in .cfg, as one set with a manifest (`<stem>.darknet.json`, checked when edgeprune loads the
    pair). A model first read from Darknet keeps its original header (version, images seen).
    """
    output = Path(output)
    base = output.with_suffix("") if output.suffix == ".cfg" else output / stem
    base.parent.mkdir(parents=True, exist_ok=True)
    stored = ckpt.provenance.get("darknet_header")
    header = WeightsHeader(*stored) if stored else WeightsHeader()
    paths = {"cfg": base.with_suffix(".cfg"), "weights": base.with_suffix(".weights"),
             "names": base.with_suffix(".names")}
    net = dataclasses.replace(ckpt.model.cfg.net, width=ckpt.imgsz[1], height=ckpt.imgsz[0])
    cfg = ckpt.model.cfg.replace(net=net)
    write_file_set({paths["cfg"]: write_cfg_text(cfg),
                    paths["weights"]: darknet_weights_bytes(ckpt.model, header),
                    paths["names"]: "".join(f"{n}\n" for n in ckpt.names)},
                   manifest=darknet_manifest(paths["weights"]))
    return {**paths, "manifest": darknet_manifest(paths["weights"])}


def darknet_manifest(weights_path: str | Path) -> Path:
    """The manifest an edgeprune Darknet export writes last, beside its .weights."""
    return Path(weights_path).with_suffix(".darknet.json")
