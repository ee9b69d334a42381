"""Models: the Darknet cfg graph IR, the torch module built from it, and its file formats.

Each name below loads its module when it is first used: the cfg IR (cfg, cfg_writer, shapes,
graph) needs no torch, so what only reads cfgs does not pay for it. The device server and its
measuring process read a base's cfg to time its layer units (POST /units) and stay as they
were: importing torch took 1.4 s and 180 MB of memory here, more on a Jetson, whose memory
the robot shares.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeprune.models.cfg import DarknetCfg, parse_cfg, read_cfg
    from edgeprune.models.cfg_writer import write_cfg_text
    from edgeprune.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from edgeprune.models.darknet import DarknetModel
    from edgeprune.models.loading import create, load_model, parse_imgsz, read_names
    from edgeprune.models.weights import read_darknet_weights, write_darknet_weights
    from edgeprune.models.zoo import BUILTIN_CFGS, builtin_cfg

_MODULES = {"DarknetCfg": "cfg", "parse_cfg": "cfg", "read_cfg": "cfg",
            "write_cfg_text": "cfg_writer", "Checkpoint": "checkpoint",
            "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
            "DarknetModel": "darknet", "create": "loading", "load_model": "loading",
            "parse_imgsz": "loading", "read_names": "loading",
            "read_darknet_weights": "weights", "write_darknet_weights": "weights",
            "BUILTIN_CFGS": "zoo", "builtin_cfg": "zoo"}

__all__ = [
    "BUILTIN_CFGS", "Checkpoint", "DarknetCfg", "DarknetModel", "builtin_cfg", "create",
    "load_checkpoint", "load_model", "parse_cfg", "parse_imgsz", "read_cfg",
    "read_darknet_weights", "read_names", "save_checkpoint", "write_cfg_text",
    "write_darknet_weights",
]


def __getattr__(name: str):
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value
