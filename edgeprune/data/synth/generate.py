"""Write a generated dataset: the YOLO layout, a dataset YAML, and a manifest.

Image i depends only on (seed, i): its scene comes from generator (seed, i, 0) and, in the `real`
domain, its camera from generator (seed, i, 1). So the same seed gives the same bytes with any
number of workers, and `sim` and `real` with one seed show the same scenes, so the gap between
them is only the camera. `sim` images are lossless PNG; `real` ones are JPEG (the camera's
compression is part of the domain). data.yaml is written last, atomically: a killed run leaves
no YAML, so it cannot be mistaken for a complete dataset.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgeprune.atomic import atomic_write_text
from edgeprune.data.dataset import DataError
from edgeprune.data.synth.camera import apply_camera, sample_camera
from edgeprune.data.synth.render import CLASSES, Rendered, render_scene
from edgeprune.data.synth.scene import sample_scene

DOMAINS = ("sim", "real")
OWN_ENTRIES = ("images", "labels", "data.yaml", "synth.json")
# Flat renders compress well at the fastest level and without row filters (OpenCV >= 4.10
# lets us turn them off), at half the encoding time of the default filters.
PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1] + (
    [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])
CHUNK = 16


@dataclass
class SynthResult:
    out: Path
    yaml_path: Path
    domain: str
    seed: int
    size: tuple[int, int]
    splits: dict[str, int]
    boxes: dict[str, int] = field(default_factory=dict)


def render_sample(seed: int, index: int, size: tuple[int, int] = (640, 480),
                  domain: str = "sim") -> tuple[Rendered, int | None]:
    """Image `index` of the dataset with `seed`: (render, JPEG quality for `real` else None)."""
    width, height = size
    scene = sample_scene(np.random.default_rng([seed, index, 0]), width, height)
    rendered = render_scene(scene)
    if domain == "sim":
        return rendered, None
    camera_rng = np.random.default_rng([seed, index, 1])
    effects = sample_camera(camera_rng)
    rendered.image = apply_camera(rendered.image, effects, camera_rng)
    return rendered, effects.jpeg_quality


def label_text(rendered: Rendered) -> str:
    height, width = rendered.image.shape[:2]
    lines = []
    for (x1, y1, x2, y2), class_id in zip(rendered.boxes.tolist(), rendered.class_ids.tolist(),
                                          strict=True):
        lines.append(f"{class_id} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                     f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return "".join(line + "\n" for line in lines)


def _write_one(out: Path, split: str, seed: int, index: int, size: tuple[int, int],
               domain: str) -> list[int]:
    rendered, quality = render_sample(seed, index, size, domain)
    suffix, options = (".png", PNG_OPTIONS) if quality is None else \
        (".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])
    ok, encoded = cv2.imencode(suffix, rendered.image, options)
    if not ok:
        raise DataError(f"OpenCV could not encode image {index} as {suffix}")
    stem = f"{index:06d}"
    (out / "images" / split / f"{stem}{suffix}").write_bytes(encoded.tobytes())
    (out / "labels" / split / f"{stem}.txt").write_text(label_text(rendered), encoding="utf-8")
    return np.bincount(rendered.class_ids, minlength=len(CLASSES)).tolist()


def _write_chunk(out: Path, jobs: list[tuple[str, int]], seed: int, size: tuple[int, int],
                 domain: str) -> list[int]:
    counts = np.zeros(len(CLASSES), np.int64)
    for split, index in jobs:
        counts += _write_one(out, split, seed, index, size, domain)
    return counts.tolist()


def _worker_init() -> None:
    cv2.setNumThreads(1)  # the pool already uses every core


def generate_dataset(out: str | Path, domain: str = "sim", images: int = 1000, seed: int = 0,
                     size: tuple[int, int] = (640, 480), val_fraction: float = 0.2,
                     workers: int = 1, force: bool = False,
                     progress: Callable[[int], None] | None = None) -> SynthResult:
    """Generate `images` RoboMaster-like images with labels under `out` (see the module doc).

    The last round(images * val_fraction) images form the val split. `progress(n)` is called
    with the number of images finished so far. With `workers > 1` the images are made in
    spawned processes, so a script calling this needs the usual `if __name__ == "__main__":`.
    """
    if domain not in DOMAINS:
        raise DataError(f"unknown domain {domain!r} (use sim or real)")
    if images < 1:
        raise DataError(f"--images must be at least 1, got {images}")
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    width, height = size
    if width < 64 or height < 64:
        raise DataError(f"--size must be at least 64x64, got {width}x{height}")
    out = Path(out)
    _prepare(out, force)
    n_val = min(round(images * val_fraction), images - 1) if val_fraction > 0 else 0
    if val_fraction > 0 and images >= 2:
        n_val = max(n_val, 1)
    jobs = [("train" if index < images - n_val else "val", index) for index in range(images)]
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    counts = np.zeros(len(CLASSES), np.int64)
    chunks = [jobs[start:start + CHUNK] for start in range(0, len(jobs), CHUNK)]
    done = 0
    if workers <= 1:
        for chunk in chunks:
            counts += _write_chunk(out, chunk, seed, size, domain)
            done += len(chunk)
            if progress:
                progress(done)
    else:
        # spawn, not fork: forking a process whose OpenCV threads hold locks can deadlock
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init) as pool:
            futures = [(len(chunk), pool.submit(_write_chunk, out, chunk, seed, size, domain))
                       for chunk in chunks]
            for count, future in futures:
                counts += future.result()
                done += count
                if progress:
                    progress(done)
    splits = {"train": images - n_val, "val": n_val}
    boxes = dict(zip(CLASSES, counts.tolist(), strict=True))
    _write_manifest(out, domain, images, seed, size, val_fraction, splits, boxes)
    yaml_path = _write_yaml(out, domain, images, seed, size, splits)
    return SynthResult(out, yaml_path, domain, seed, size, splits, boxes)


def _prepare(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if out.is_dir():
        existing = sorted(entry.name for entry in out.iterdir())
        if existing and not force:
            raise DataError(f"{out}: folder is not empty ({', '.join(existing[:4])}"
                            f"{', ...' if len(existing) > 4 else ''}); use --force to replace "
                            f"a generated dataset there")
        for name in OWN_ENTRIES:  # never delete what this command did not write
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _write_manifest(out, domain, images, seed, size, val_fraction, splits, boxes) -> None:
    manifest = {"generator": "edgeprune data synth", "format_version": 1, "domain": domain,
                "images": images, "seed": seed, "size": list(size),
                "val_fraction": val_fraction, "classes": list(CLASSES), "splits": splits,
                "boxes": boxes}
    atomic_write_text(out / "synth.json", json.dumps(manifest, indent=2) + "\n")


def _write_yaml(out, domain, images, seed, size, splits) -> Path:
    lines = [f"# edgeprune data synth --domain {domain} --images {images} --seed {seed} "
             f"--size {size[0]}x{size[1]}",
             "path: .  # relative to this file"]
    lines += [f"{split}: images/{split}" for split in ("train", "val") if splits[split]]
    lines.append("names: [" + ", ".join(CLASSES) + "]")
    yaml_path = out / "data.yaml"
    atomic_write_text(yaml_path, "\n".join(lines) + "\n")
    return yaml_path


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
