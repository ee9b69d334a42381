"""`edgeprune calib make`: choose the images of a calibration set and write calib/NAME."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprune.calib.calibset import CalibError, CalibSet, write_calib_set
from edgeprune.calib.selection import Selection, select_calibration_images


@dataclass
class MadeCalibSet:
    calib: CalibSet
    selection: Selection
    names: list[str]
    available: int  # usable images in the split it was chosen from


def make_calib_set(data, output: str | Path, count: int = 500, *, split: str = "train",
                   seed: int = 0, imgsz=None, copy: bool = False,
                   force: bool = False) -> MadeCalibSet:
    """Pick `count` class-balanced images of `data`'s `split` and write them to `output`."""
    from edgeprune.data import load_dataset

    output = Path(output)
    if output.exists() and any(output.iterdir()) and not force:
        raise CalibError(f"{output}: already holds files (a calibration set and its caches?); "
                         f"pass --force to replace the set (caches of the old set are removed)")
    # calibration reads the images only: unlabelled ones are fine
    dataset = load_dataset(data, split).require_usable(need_boxes=False)
    selection = select_calibration_images(dataset.samples, len(dataset.names), count, seed)
    paths = [dataset.samples[i].image_path for i in selection.indices]
    source = {"data": str(Path(data).resolve()) if isinstance(data, (str, Path)) else str(data),
              "split": split, "seed": seed, "selection": {
                  "cover_images": selection.cover_count, "quota_per_class": selection.quota,
                  "images_per_class": dict(zip(dataset.names, selection.images_per_class,
                                               strict=True))}}
    calib = write_calib_set(output, paths, imgsz=imgsz, source=source, copy=copy)
    return MadeCalibSet(calib, selection, list(dataset.names), len(dataset))
