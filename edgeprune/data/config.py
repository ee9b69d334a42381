"""The dataset description: a YAML file (ultralytics keys), the same as a dict, or a Darknet .data.

Relative paths resolve against `path` (the dataset root), which itself resolves against the
YAML's folder; `root_map` rewrites absolute roots of list files written on another machine.
Unknown keys are an error: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edgeprune.data.dataset import DataError

SPLITS = ("train", "val", "test")
YAML_KEYS = frozenset({"path", "train", "val", "test", "names", "nc", "format", "root_map",
                       "class_map", "images", "download"})
DARKNET_DATA_KEYS = {"train": "train", "valid": "val", "test": "test", "names": "names",
                     "classes": "nc"}
DARKNET_DATA_IGNORED = frozenset({"backup", "eval", "results", "map", "top"})


@dataclass
class DatasetConfig:
    """A parsed, validated dataset description with every path resolved."""

    source: str  # the YAML file (or "<dict>") named in every error
    base: Path  # folder that relative `path`, `root_map` targets and `images` resolve against
    root: Path  # the dataset root (`path`)
    splits: dict[str, list[Path]]
    names: list[str] | None = None
    format: str | None = None
    root_map: list[tuple[str, Path]] = field(default_factory=list)  # longest prefix first
    class_map: dict | None = None
    images: dict[str, Path] = field(default_factory=dict)  # split (or "*") -> image folder

    def split_sources(self, split: str) -> list[Path]:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        if not self.splits.get(split):
            defined = ", ".join(s for s in SPLITS if self.splits.get(s)) or "none"
            raise DataError(f"{self.source}: split {split!r} is not defined (defined: {defined})")
        return self.splits[split]

    def image_folder(self, split: str) -> Path | None:
        return self.images.get(split, self.images.get("*"))

    def remap(self, text: str) -> str:
        """Apply `root_map` to a path string written on another machine."""
        normalized = text.replace("\\", "/")
        for prefix, target in self.root_map:
            if normalized == prefix or normalized.startswith(prefix + "/"):
                return str(target) + normalized[len(prefix):]
        return text

    def resolve(self, text: str | os.PathLike, relative_to: Path | None = None) -> Path:
        """A path from the description or a list file: remapped, then made absolute."""
        path = Path(self.remap(os.fspath(text))).expanduser()
        return path if path.is_absolute() else (relative_to or self.root) / path


def read_config(data: str | Path | Mapping) -> DatasetConfig:
    """Parse a dataset YAML, a dict of the same keys, a Darknet .data file, or a folder holding
    data.yaml / dataset.yaml."""
    if isinstance(data, Mapping):
        return _from_mapping(dict(data), "<dict>", Path.cwd())
    path = Path(data).expanduser()
    if path.is_dir():
        found = [path / name for name in ("data.yaml", "dataset.yaml", "data.yml")
                 if (path / name).is_file()]
        if not found:
            raise DataError(f"{path}: folder holds no data.yaml or dataset.yaml")
        path = found[0]
    if not path.is_file():
        raise DataError(f"{path}: dataset description not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read dataset description ({exc})") from None
    if path.suffix.lower() == ".data":
        return _from_mapping(_parse_darknet_data(text, path), str(path), path.parent.resolve())
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(mapping, dict):
        raise DataError(f"{path}: a dataset YAML must be a mapping of keys (path, train, val, "
                        f"names, ...)")
    return _from_mapping(mapping, str(path), path.parent.resolve())


def _parse_darknet_data(text: str, path: Path) -> dict:
    """Darknet's `key = value` .data file, translated to the YAML keys."""
    mapping: dict = {"format": "darknet"}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not key:
            raise DataError(f"{path}:{number}: expected `key = value`, got {raw.strip()!r}")
        if key in DARKNET_DATA_IGNORED:
            continue
        if key not in DARKNET_DATA_KEYS:
            raise DataError(f"{path}:{number}: unknown key {key!r} (known: "
                            f"{', '.join(sorted(DARKNET_DATA_KEYS))})")
        mapping[DARKNET_DATA_KEYS[key]] = int(value) if key == "classes" else value
    # Darknet opens these paths relative to its working folder; the .data usually sits one level
    # below it (cfg/ or data/), so prefer the folder where the paths actually exist.
    for parent in (Path.cwd(), path.parent, path.parent.parent):
        listed = [mapping[k] for k in ("train", "val", "names") if k in mapping]
        if listed and all((parent / Path(p)).exists() or Path(p).is_absolute() for p in listed):
            mapping["path"] = str(parent.resolve())
            break
    return mapping


def _from_mapping(mapping: dict, source: str, base: Path) -> DatasetConfig:
    unknown = sorted(str(k) for k in mapping if k not in YAML_KEYS)
    if unknown:
        raise DataError(f"{source}: unknown key{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(repr(k) for k in unknown)} (known: "
                        f"{', '.join(sorted(YAML_KEYS))})")
    config = DatasetConfig(source=source, base=base, root=base, splits={})
    config.root_map = _root_map(mapping.get("root_map"), source, base)
    root = mapping.get("path")
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise DataError(f"{source}: `path` must be a folder, got {root!r}")
        config.root = config.resolve(root, base)
    for split in SPLITS:
        value = mapping.get(split)
        if value is None or value == "":
            continue
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, (str, os.PathLike)) for item in items):
            raise DataError(f"{source}: `{split}` must be a path or a list of paths")
        config.splits[split] = [config.resolve(item) for item in items]
    config.format = _format_name(mapping.get("format"), source)
    config.names = _names(mapping.get("names"), mapping.get("nc"), config)
    config.class_map = _class_map(mapping.get("class_map"), source)
    config.images = _images(mapping.get("images"), config)
    return config


def _root_map(value, source: str, base: Path) -> list[tuple[str, Path]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise DataError(f"{source}: `root_map` must map old roots to new ones, e.g. "
                        f"{{/data/UCSD-dataset: ./ucsd-sample}}")
    pairs = []
    for old, new in value.items():
        if not isinstance(old, str) or not isinstance(new, str) or not old.strip("/\\"):
            raise DataError(f"{source}: root_map entry {old!r}: {new!r} must map a folder to a "
                            f"folder")
        target = Path(new).expanduser()
        pairs.append((old.replace("\\", "/").rstrip("/"),
                      target if target.is_absolute() else (base / target).resolve()))
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def _format_name(value, source: str) -> str | None:
    if value is None:
        return None
    from edgeprune.data.formats import FORMATS

    try:
        FORMATS.get(value)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None
    return value


def _names(value, nc, config: DatasetConfig) -> list[str] | None:
    source = config.source
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise DataError(f"{source}: `nc` must be a positive class count, got {nc!r}")
    if value is None:
        return [f"class{i}" for i in range(nc)] if nc else None
    if isinstance(value, str):
        path = config.resolve(value)
        if not path.is_file():
            raise DataError(f"{source}: class-names file {path} not found")
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    elif isinstance(value, list):
        names = [str(name) for name in value]
    elif isinstance(value, dict):
        try:
            ids = sorted(int(key) for key in value)
        except (TypeError, ValueError):
            raise DataError(f"{source}: `names` keys must be class ids 0, 1, ...") from None
        if ids != list(range(len(ids))):
            raise DataError(f"{source}: `names` ids must run 0..{len(ids) - 1} without gaps, "
                            f"got {ids}")
        by_id = {int(key): str(name) for key, name in value.items()}
        names = [by_id[i] for i in ids]
    else:
        raise DataError(f"{source}: `names` must be a list, an {{id: name}} mapping or a "
                        f"names file")
    if not names:
        raise DataError(f"{source}: `names` is empty")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(f"{source}: class names repeated: {', '.join(duplicated)}")
    if nc is not None and nc != len(names):
        raise DataError(f"{source}: `nc` is {nc} but `names` lists {len(names)} classes")
    return names


def _class_map(value, source: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DataError(f"{source}: `class_map` must map label names to class names")
    for key, target in value.items():
        if target is not None and not isinstance(target, str):
            raise DataError(f"{source}: class_map[{key!r}] must be a class name, `ignore` or "
                            f"null, got {target!r}")
    return dict(value)


def _images(value, config: DatasetConfig) -> dict[str, Path]:
    if value is None:
        return {}
    if isinstance(value, (str, os.PathLike)):
        return {"*": config.resolve(value)}
    if isinstance(value, dict) and all(key in SPLITS for key in value):
        return {key: config.resolve(folder) for key, folder in value.items()}
    raise DataError(f"{config.source}: `images` must be a folder or {{split: folder}} "
                    f"(splits: {', '.join(SPLITS)})")
