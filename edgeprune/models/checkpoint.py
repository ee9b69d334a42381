"""Self-describing checkpoints: cfg text, state dict, class names, input size, provenance.

A checkpoint is a plain dict of strings, numbers, lists and tensors saved with `torch.save` and
loaded with `torch.load(weights_only=True)`: nothing is unpickled, so a checkpoint from anyone is
safe to open. The cfg text travels inside, so a pruned model needs no side files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

from edgeprune.atomic import atomic_write_bytes
from edgeprune.clock import utc_now
from edgeprune.errors import WeightsError
from edgeprune.models.cfg import parse_cfg
from edgeprune.models.cfg_writer import write_cfg_text
from edgeprune.models.darknet import DarknetModel

CHECKPOINT_FORMAT = "edgeprune-checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED_KEYS = ("format", "version", "cfg", "state_dict", "names", "imgsz", "provenance")


@dataclass
class Checkpoint:
    """A model with everything needed to use it: class names, input size (h, w), provenance."""

    model: DarknetModel
    names: list[str]
    imgsz: tuple[int, int]
    provenance: dict = field(default_factory=dict)

    @property
    def cfg_text(self) -> str:
        return write_cfg_text(self.model.cfg)


def default_names(num_classes: int) -> list[str]:
    return [f"class{i}" for i in range(num_classes)]


def _plain(value):
    """Provenance as weights_only-safe plain data (str, int, float, bool, None, list, dict)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def checkpoint_dict(ckpt: Checkpoint) -> dict:
    from edgeprune import __version__

    provenance = {"saved": utc_now(),
                  "edgeprune_version": __version__, **ckpt.provenance}
    state = {k: v.detach().cpu().clone() for k, v in ckpt.model.state_dict().items()}
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "cfg": ckpt.cfg_text, "state_dict": state, "names": list(ckpt.names),
            "imgsz": [int(ckpt.imgsz[0]), int(ckpt.imgsz[1])],
            "provenance": _plain(provenance)}


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write the checkpoint atomically; returns the path."""
    if len(ckpt.names) != ckpt.model.num_classes:
        raise WeightsError(f"{path}: {len(ckpt.names)} class names for a model with "
                           f"{ckpt.model.num_classes} classes")
    buffer = io.BytesIO()
    torch.save(checkpoint_dict(ckpt), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint written by `save_checkpoint` (weights_only: nothing is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: file not found")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise WeightsError(f"{path}: not a loadable edgeprune checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path}: not an edgeprune checkpoint (no '{CHECKPOINT_FORMAT}' "
                           f"marker); Darknet weights need --cfg, ONNX files go to the runtime")
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise WeightsError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if data["version"] > CHECKPOINT_VERSION:
        raise WeightsError(f"{path}: checkpoint version {data['version']} is newer than this "
                           f"edgeprune understands ({CHECKPOINT_VERSION}); upgrade edgeprune")
    cfg = parse_cfg(data["cfg"], f"{path} (embedded cfg)")
    model = DarknetModel(cfg)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise WeightsError(f"{path}: state dict does not match its own cfg: {exc}") from None
    model.eval()
    height, width = data["imgsz"]
    return Checkpoint(model=model, names=list(data["names"]), imgsz=(int(height), int(width)),
                      provenance=dict(data["provenance"]))


def model_fingerprint(model: DarknetModel) -> str:
    """A digest of the architecture and every weight: what "the same base model" means to
    files derived from one (a weight-sharing network records its base's)."""
    import hashlib

    digest = hashlib.sha256(write_cfg_text(model.cfg).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
