"""Models: the Darknet cfg graph IR, the torch module built from it, and its file formats."""

from edgeprune.models.cfg import DarknetCfg, parse_cfg, read_cfg
from edgeprune.models.cfg_writer import write_cfg_text
from edgeprune.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from edgeprune.models.darknet import DarknetModel
from edgeprune.models.loading import create, load_model, parse_imgsz, read_names
from edgeprune.models.weights import read_darknet_weights, write_darknet_weights
from edgeprune.models.zoo import BUILTIN_CFGS, builtin_cfg

__all__ = [
    "BUILTIN_CFGS", "Checkpoint", "DarknetCfg", "DarknetModel", "builtin_cfg", "create",
    "load_checkpoint", "load_model", "parse_cfg", "parse_imgsz", "read_cfg",
    "read_darknet_weights", "read_names", "save_checkpoint", "write_cfg_text",
    "write_darknet_weights",
]
