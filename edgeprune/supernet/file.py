"""The trained weight-sharing network as one file: safe to open, and tied to its base.

Like a checkpoint it is a plain dict of strings, numbers, lists and tensors (loads with
`torch.load(..., weights_only=True)`): the base's cfg text, the shared weights and the encoder,
the fixed channel order, the space it covers, and the base's fingerprint (architecture and
every weight), so a search refuses a weight-sharing network made for another base instead of
scoring its candidates with weights that mean nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

from edgeprune.atomic import atomic_write_bytes
from edgeprune.clock import utc_now
from edgeprune.models.cfg import parse_cfg
from edgeprune.models.cfg_writer import write_cfg_text
from edgeprune.models.checkpoint import Checkpoint, model_fingerprint
from edgeprune.models.darknet import DarknetModel
from edgeprune.supernet.network import FORMS, WeightSharingNet
from edgeprune.supernet.space import SubnetRules, SupernetError

SUPERNET_FORMAT = "edgeprune-supernet"
SUPERNET_VERSION = 1
_REQUIRED = ("format", "version", "form", "cfg", "state_dict", "scores", "rules", "hidden",
             "names", "imgsz", "base")


@dataclass
class Supernet:
    """A weight-sharing network with what it belongs to."""

    net: WeightSharingNet
    names: list[str]
    imgsz: tuple[int, int]
    base_fingerprint: str
    base_path: str = ""
    training: dict = field(default_factory=dict)  # steps, data, seconds, settings

    @property
    def form(self) -> str:
        return self.net.form

    def check_base(self, base: Checkpoint, base_name: str, path: str | Path) -> None:
        """SupernetError unless `base` is the model this network was trained from."""
        if model_fingerprint(base.model) != self.base_fingerprint:
            made_for = f" ({self.base_path})" if self.base_path else ""
            raise SupernetError(
                f"{path}: this weight-sharing network was trained from another base "
                f"model{made_for}, not {base_name}; train one for this base with "
                f"`edgeprune supernet train --weights {base_name}`")


def supernet_dict(supernet: Supernet) -> dict:
    net = supernet.net
    return {"format": SUPERNET_FORMAT, "version": SUPERNET_VERSION, "form": net.form,
            "cfg": write_cfg_text(net.cfg),
            "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
            "scores": {str(k): v.clone() for k, v in net.scores.items()},
            "rules": net.rules.to_dict(),
            "hidden": net.encoder.hidden if net.encoder is not None else 0,
            "names": list(supernet.names), "imgsz": [int(v) for v in supernet.imgsz],
            "base": {"fingerprint": supernet.base_fingerprint, "path": supernet.base_path},
            "training": supernet.training, "saved": utc_now()}


def save_supernet(supernet: Supernet, path: str | Path, extra: dict | None = None) -> Path:
    """Write atomically; `extra` adds entries (the training state of a run's last file)."""
    data = supernet_dict(supernet)
    data.update(extra or {})
    buffer = io.BytesIO()
    torch.save(data, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def read_supernet_data(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SupernetError(f"{path}: weight-sharing network file not found (make one with "
                            f"`edgeprune supernet train`)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise SupernetError(f"{path}: not a loadable weight-sharing network ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != SUPERNET_FORMAT:
        raise SupernetError(f"{path}: not a weight-sharing network file (no "
                            f"'{SUPERNET_FORMAT}' marker; a model checkpoint goes to --weights)")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise SupernetError(f"{path}: weight-sharing network file lacks {', '.join(missing)}")
    if data["version"] > SUPERNET_VERSION:
        raise SupernetError(f"{path}: file version {data['version']} is newer than this "
                            f"edgeprune understands ({SUPERNET_VERSION}); upgrade edgeprune")
    if data["form"] not in FORMS:
        raise SupernetError(f"{path}: unknown form {data['form']!r} (forms: {', '.join(FORMS)})")
    return data


def supernet_from_data(data: dict, path: str | Path) -> Supernet:
    cfg = parse_cfg(data["cfg"], f"{path} (embedded cfg)")
    scores = {int(k): v for k, v in data["scores"].items()}
    net = WeightSharingNet(DarknetModel(cfg), data["form"], SubnetRules(**data["rules"]), scores,
                           hidden=int(data["hidden"]) or 32)
    try:
        net.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise SupernetError(f"{path}: weights do not match the embedded cfg: {exc}") from None
    height, width = data["imgsz"]
    return Supernet(net, list(data["names"]), (int(height), int(width)),
                    str(data["base"]["fingerprint"]), str(data["base"].get("path", "")),
                    dict(data.get("training") or {}))


def load_supernet(path: str | Path) -> Supernet:
    """Load a file written by `save_supernet`; SupernetError naming the file otherwise."""
    return supernet_from_data(read_supernet_data(path), path)
