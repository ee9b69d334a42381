"""COCO instances json (`images`, `annotations`, `categories`; bbox = [x, y, width, height]).

Without `names` in the YAML the classes are the categories sorted by id (COCO's own order), so
ids 1, 2, 3, ... (or any sparse ids) become contiguous class ids 0, 1, 2, ...; with `names`,
categories map by name (or through `class_map`). `iscrowd` annotations become ignore boxes.
Images resolve `file_name` against the YAML's `images` folder, else a folder named after the
json (instances_val2017.json -> val2017/ or images/val2017/), else the json's own folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from edgeprune.data.config import SPLITS, DatasetConfig
from edgeprune.data.dataset import DataError, DataProblem, Sample
from edgeprune.data.formats.base import BoxCollector, DatasetFormat, register_format, require_source
from edgeprune.data.formats.classmap import ClassMapper


@register_format
class CocoFormat(DatasetFormat):
    name: ClassVar[str] = "coco"
    uses_class_map: ClassVar[bool] = True

    def names(self, config: DatasetConfig) -> list[str]:
        if config.names:
            return config.names
        split = next(s for s in SPLITS if config.splits.get(s))
        source = config.splits[split][0]
        require_source(config, split, source)
        return [c["name"] for c in _sorted_categories(read_coco_json(source), source)]

    def load(self, config: DatasetConfig, split: str,
             names: list[str]) -> tuple[list[Sample], list[DataProblem]]:
        samples: list[Sample] = []
        problems: list[DataProblem] = []
        for source in config.split_sources(split):
            require_source(config, split, source)
            samples += _load_json(source, config, split, names, problems)
        return samples, problems

    @classmethod
    def claims(cls, config: DatasetConfig, source: Path) -> bool:
        return source.is_file() and source.suffix.lower() == ".json"


def read_coco_json(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list)
                                             for key in ("images", "categories")):
        raise DataError(f"{path}: not a COCO instances file (needs `images` and `categories` "
                        f"lists)")
    if not isinstance(data.get("annotations", []), list):
        raise DataError(f"{path}: `annotations` must be a list")
    return data


def _sorted_categories(data: dict, path: Path) -> list[dict]:
    categories = data["categories"]
    if not all(isinstance(c, dict) and "id" in c and "name" in c for c in categories):
        raise DataError(f"{path}: every category needs an `id` and a `name`")
    return sorted(categories, key=lambda c: c["id"])


def _image_folder(json_path: Path, config: DatasetConfig, split: str, first_file: str | None):
    given = config.image_folder(split)
    if given is not None:
        return given
    stem = json_path.stem.removeprefix("instances_")
    candidates = [config.root / stem, config.root / "images" / stem, json_path.parent.parent /
                  stem, json_path.parent.parent / "images" / stem, config.root / "images",
                  config.root, json_path.parent]
    for folder in candidates:
        if first_file and (folder / first_file).is_file():
            return folder
    return next((folder for folder in candidates if folder.is_dir()), json_path.parent)


def _load_json(path: Path, config: DatasetConfig, split: str, names: list[str],
               problems: list[DataProblem]) -> list[Sample]:
    data = read_coco_json(path)
    categories = _sorted_categories(data, path)
    mapper = ClassMapper(config.class_map, names, config.source)
    # by name: names come from `names`, or from the categories of the split's first json
    by_category = {category["id"]: mapper.map(str(category["name"]),
                                              {k: str(v) for k, v in category.items()})
                   for category in categories}
    images = [image for image in data["images"] if isinstance(image, dict)]
    folder = _image_folder(path, config, split, images[0].get("file_name") if images else None)
    annotations: dict = {}
    for annotation in data.get("annotations", []):
        annotations.setdefault(annotation.get("image_id"), []).append(annotation)
    samples = []
    for image in images:
        where = f"image id {image.get('id')} ({image.get('file_name')!r})"
        image_path = folder / str(image.get("file_name", ""))
        if not image.get("file_name") or not image_path.is_file():
            problems.append(DataProblem("missing_image", str(path), None,
                                        f"{where}: {image_path} not found"))
            continue
        width, height = image.get("width"), image.get("height")
        if not (isinstance(width, (int, float)) and isinstance(height, (int, float))
                and width > 0 and height > 0):
            problems.append(DataProblem("bad_label_file", str(path), None,
                                        f"{where}: width/height missing or not positive"))
            continue
        boxes = BoxCollector(str(path), int(width), int(height), problems)
        for annotation in annotations.pop(image.get("id"), []):
            _add_annotation(annotation, where, boxes, by_category)
        sample = boxes.sample(image_path)
        sample.label_path = path
        samples.append(sample)
    for image_id, orphans in annotations.items():
        problems.append(DataProblem("unknown_image", str(path), None,
                                    f"{len(orphans)} annotation(s) for image id {image_id}, "
                                    f"which `images` does not list"))
    return samples


def _add_annotation(annotation: dict, where: str, boxes: BoxCollector, by_category) -> None:
    label = f"{where}, annotation id {annotation.get('id')}"
    bbox = annotation.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(
            isinstance(v, (int, float)) for v in bbox):
        boxes.problem("wrong_column_count", None, f"{label}: bbox must be [x, y, width, "
                      f"height], got {bbox!r}")
        return
    mapped = by_category.get(annotation.get("category_id"))
    if mapped is None:
        boxes.problem("unknown_class", None, f"{label}: category_id "
                      f"{annotation.get('category_id')} is not in `categories`")
        return
    if mapped.problem:
        boxes.problem("unknown_class", None, f"{label}: {mapped.problem}")
        return
    x, y, w, h = (float(v) for v in bbox)
    if annotation.get("iscrowd") or mapped.ignore:
        boxes.add_ignore(x, y, x + w, y + h, None)
    elif mapped.class_id is not None:
        boxes.add(x, y, x + w, y + h, mapped.class_id, None, label)
