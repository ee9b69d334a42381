"""A calibration set on disk: calib/NAME/ with `images.txt`, `calib.yaml` and calibration caches.

`images.txt` lists one image a line (relative paths resolve against the folder, so a set made
with `--copy` moves to the robot as one folder). `calib.yaml` records where the images came
from and the pre-processing they get, which must be the Detector's (letterbox with grey 114,
RGB, [0, 1], NCHW float32): INT8 ranges fitted to other pixels would be wrong on the robot.
TensorRT's calibration caches are written beside them, one per model and input size
(`trt-<onnx sha256 prefix>-<W>x<H>.cache`), so a later build of the same model skips
calibration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from edgeprune.clock import utc_now
from edgeprune.data.letterbox import PAD_VALUE
from edgeprune.errors import EdgepruneError

IMAGES_FILE = "images.txt"
SETTINGS_FILE = "calib.yaml"
CACHE_SUFFIX = ".cache"

# The pre-processing every calibration batch gets: the Detector's (runtime/detector.py).
PREPROCESS = {"letterbox_pad_value": PAD_VALUE, "letterbox_centred": True,
              "channels": "RGB", "scale": "1/255 (values in [0, 1])", "layout": "NCHW float32"}


class CalibError(EdgepruneError):
    """A calibration folder that cannot be used."""


@dataclass
class CalibSet:
    """A calibration folder: its image paths (absolute) and the settings that made them."""

    folder: Path
    images: list[Path]
    imgsz: tuple[int, int] | None = None  # (height, width); None: the model's input size
    settings: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.name

    def __len__(self) -> int:
        return len(self.images)

    def cache_path(self, onnx_sha256: str, imgsz: tuple[int, int]) -> Path:
        """Where TensorRT's calibration cache for this model at `imgsz` lives."""
        return self.folder / f"trt-{onnx_sha256[:16]}-{imgsz[1]}x{imgsz[0]}{CACHE_SUFFIX}"

    def input_size(self, model_imgsz: tuple[int, int]) -> tuple[int, int]:
        """The size batches are made at: the model's, which a set made for a size must match."""
        if self.imgsz is not None and tuple(self.imgsz) != tuple(model_imgsz):
            raise CalibError(f"{self.folder / SETTINGS_FILE}: the set was made for "
                             f"{self.imgsz[1]}x{self.imgsz[0]} input, the model takes "
                             f"{model_imgsz[1]}x{model_imgsz[0]}")
        return model_imgsz

    def batches(self, imgsz: tuple[int, int], batch_size: int) -> Iterator[np.ndarray]:
        """(batch_size, 3, H, W) float32 batches through the Detector's pre-processing; the
        last partial batch is dropped (TensorRT calibrates at one fixed batch size)."""
        from edgeprune.data.images import read_image
        from edgeprune.data.letterbox import prepare_batch

        for start in range(0, len(self.images) - batch_size + 1, batch_size):
            chunk = self.images[start:start + batch_size]
            try:
                pixels = [read_image(path) for path in chunk]
            except EdgepruneError as exc:
                raise CalibError(f"{self.folder / IMAGES_FILE}: {exc}") from None
            yield prepare_batch(pixels, imgsz)[0]


def write_calib_set(folder: str | Path, image_paths: list[Path], *, imgsz=None,
                    source: dict | None = None, copy: bool = False) -> CalibSet:
    """Write images.txt and calib.yaml into `folder` (images copied into folder/images with
    `copy`), as a set: built in a temp folder beside it and renamed into place, replacing
    what `folder` held. Returns the set as later loads will see it."""
    from edgeprune.filesets import staged_folder

    folder = Path(folder)
    with staged_folder(folder) as staging:
        _write_calib_files(staging, folder.name, image_paths, imgsz, source, copy)
    return load_calib_set(folder)


def _write_calib_files(folder: Path, name: str, image_paths: list[Path], imgsz,
                       source: dict | None, copy: bool) -> None:
    import shutil

    from edgeprune.atomic import atomic_write_text
    from edgeprune.models.loading import parse_imgsz

    size = parse_imgsz(imgsz) if imgsz is not None else None
    lines = []
    if copy:
        target = folder / "images"
        target.mkdir(exist_ok=True)
        for index, path in enumerate(image_paths):
            # numbered names: two source folders may hold images of the same name
            name = f"{index:05d}_{Path(path).name}"
            shutil.copy2(path, target / name)
            lines.append(f"images/{name}")
    else:
        lines = [str(Path(p).resolve()) for p in image_paths]
    atomic_write_text(folder / IMAGES_FILE, "\n".join(lines) + "\n")
    settings = {
        "name": name,
        "created": utc_now(),
        "images": len(lines),
        "imgsz": list(size) if size else None,
        "preprocess": dict(PREPROCESS),
        **(source or {}),
    }
    header = ("# INT8 calibration set made by `edgeprune calib make` (calib/README.md).\n"
              "# images.txt lists the images; TensorRT's calibration caches sit beside it.\n")
    atomic_write_text(folder / SETTINGS_FILE,
                      header + yaml.safe_dump(settings, sort_keys=False, allow_unicode=True))


def load_calib_set(folder: str | Path) -> CalibSet:
    """Read calib/NAME (or the path of its calib.yaml); errors name the file and line."""
    from edgeprune.data.images import is_image_path
    from edgeprune.models.loading import parse_imgsz

    folder = Path(folder)
    if folder.name == SETTINGS_FILE:
        folder = folder.parent
    settings_path, list_path = folder / SETTINGS_FILE, folder / IMAGES_FILE
    if not settings_path.is_file() or not list_path.is_file():
        raise CalibError(f"{folder}: not a calibration set (no {SETTINGS_FILE} and "
                         f"{IMAGES_FILE}); make one with `edgeprune calib make`")
    try:
        settings = yaml.safe_load(settings_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CalibError(f"{settings_path}: not valid YAML ({exc})") from None
    if not isinstance(settings, dict):
        raise CalibError(f"{settings_path}: expected a mapping of settings")
    preprocess = settings.get("preprocess") or {}
    for key, expected in PREPROCESS.items():
        if preprocess.get(key) != expected:
            raise CalibError(f"{settings_path}: preprocess.{key} is {preprocess.get(key)!r}, "
                             f"but the Detector uses {expected!r}; remake the set")
    try:
        imgsz = parse_imgsz(settings["imgsz"]) if settings.get("imgsz") else None
    except EdgepruneError as exc:
        raise CalibError(f"{settings_path}: imgsz: {exc}") from None
    images = []
    for number, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line) if Path(line).is_absolute() else folder / line
        if not is_image_path(path):
            raise CalibError(f"{list_path}:{number}: {line} is not an image file name")
        if not path.is_file():
            raise CalibError(f"{list_path}:{number}: {path} does not exist (made on another "
                             f"machine? remake the set with --copy to carry the images)")
        images.append(path)
    if not images:
        raise CalibError(f"{list_path}: lists no images")
    return CalibSet(folder, images, imgsz, settings)
