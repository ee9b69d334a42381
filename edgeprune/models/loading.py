"""One entry point from whatever a user has to a `Checkpoint`.

Users arrive with a built-in name, a Darknet .cfg (with or without .weights), or an edgeprune
checkpoint; every command that takes a model resolves it here, so they all accept the same
things and fail with the same messages.
"""

from __future__ import annotations

from pathlib import Path

from edgeprune.errors import EdgepruneError
from edgeprune.models.cfg import read_cfg
from edgeprune.models.checkpoint import Checkpoint, default_names, load_checkpoint
from edgeprune.models.darknet import DarknetModel
from edgeprune.models.weights import read_darknet_weights
from edgeprune.models.zoo import BUILTIN_CFGS, builtin_cfg


def parse_imgsz(value: int | str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """Input size as (height, width) from 416, "416", "640x480" (width x height) or (h, w)."""
    if isinstance(value, (tuple, list)):
        height, width = (int(v) for v in value)
    elif isinstance(value, int):
        height = width = value
    else:
        text = str(value).lower().strip()
        try:
            if "x" in text:
                width, height = (int(v) for v in text.split("x"))
            else:
                height = width = int(text)
        except ValueError:
            raise EdgepruneError(f"input size {value!r}: expected N or WIDTHxHEIGHT") from None
    if height < 32 or width < 32 or height % 32 or width % 32:
        raise EdgepruneError(f"input size {width}x{height}: both sides must be multiples of 32 "
                             f"(the detector's largest stride)")
    return height, width


def read_names(path: str | Path) -> list[str]:
    """Class names, one a line (Darknet .names / classes.txt)."""
    path = Path(path)
    if not path.is_file():
        raise EdgepruneError(f"{path}: class-names file not found")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def create(name: str, num_classes: int = 80, width: float = 1.0,
           imgsz: int | None = None) -> DarknetModel:
    """A built-in model with fresh weights: `create("yolov3", num_classes=5, width=0.25)`."""
    model = DarknetModel(builtin_cfg(name, num_classes=num_classes, width=width, imgsz=imgsz))
    return model.eval()


def load_model(weights: str | Path | None = None, cfg: str | Path | None = None, *,
               names: list[str] | None = None, num_classes: int | None = None,
               width: float = 1.0, imgsz=None, darknet_cutoff: int | None = None) -> Checkpoint:
    """Resolve a model given as a checkpoint (.pt), Darknet cfg [+ weights], or built-in name.

    `imgsz` overrides the stored input size. `names` (or `num_classes`) is needed only where the
    source carries no class names (built-ins and Darknet files).
    """
    weights_str = str(weights) if weights is not None else None
    provenance: dict = {}
    if weights_str is not None and weights_str.endswith((".pt", ".pth")):
        if cfg is not None:
            raise EdgepruneError(f"{weights}: a checkpoint carries its own cfg; drop --cfg")
        ckpt = load_checkpoint(weights_str)
        if imgsz is not None:
            ckpt.imgsz = parse_imgsz(imgsz)
        return ckpt
    if cfg is not None:
        if weights_str is not None:
            _check_darknet_set(Path(cfg), Path(weights_str))
        cfg_records = read_cfg(cfg)
        model = DarknetModel(cfg_records)
        provenance["cfg"] = str(cfg)
        if weights_str is not None:
            if not weights_str.endswith(".weights") and not Path(weights_str).is_file():
                raise EdgepruneError(f"{weights}: file not found")
            header = read_darknet_weights(model, weights_str, upto=darknet_cutoff)
            provenance.update(darknet_weights=weights_str,
                              darknet_header=[header.major, header.minor, header.revision,
                                              header.seen])
        size = (cfg_records.net.height, cfg_records.net.width)
    elif weights_str in BUILTIN_CFGS:
        classes = len(names) if names else (num_classes or 80)
        model = DarknetModel(builtin_cfg(weights_str, num_classes=classes, width=width))
        provenance.update(builtin=weights_str, width=width)
        size = (model.cfg.net.height, model.cfg.net.width)
    elif weights_str is not None and weights_str.endswith(".weights"):
        raise EdgepruneError(f"{weights}: Darknet .weights need their network: add --cfg FILE.cfg")
    elif weights_str is not None:
        known = ", ".join(BUILTIN_CFGS)
        raise EdgepruneError(f"{weights}: not a checkpoint (.pt), Darknet .weights (with --cfg) "
                             f"or built-in model ({known})")
    else:
        raise EdgepruneError("no model given: pass --weights (a .pt, or a built-in name) "
                             "or --cfg FILE.cfg [--weights FILE.weights]")
    classes = model.num_classes
    if names is not None and len(names) != classes:
        raise EdgepruneError(f"{len(names)} class names given for a model with {classes} classes")
    model.eval()
    return Checkpoint(model=model, names=list(names) if names else default_names(classes),
                      imgsz=parse_imgsz(imgsz) if imgsz is not None else size,
                      provenance=provenance)


def _check_darknet_set(cfg: Path, weights: Path) -> None:
    """A pair from an edgeprune Darknet export has a manifest: the pair must be the one it lists
    (an interrupted re-export would otherwise pair a new .cfg with an old .weights)."""
    from edgeprune.filesets import check_file_set
    from edgeprune.models.darknet_files import darknet_manifest

    manifest = darknet_manifest(weights)
    if manifest.is_file() and cfg.resolve().parent == manifest.resolve().parent:
        check_file_set(manifest)
