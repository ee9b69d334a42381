"""Pascal-VOC XML, including DJI ROCO's objects (car, watcher, base, ignore, armor with
armor_class and armor_color).

A split source is a folder of XML files, a folder of images, one file, or a list file of XML
paths, image paths or VOC ids (ImageSets/Main/*.txt). An image's XML is found by the rule
JPEGImages/ -> Annotations/ (VOC), image/ -> image_annotation/ (ROCO), images/ -> annotations/,
else beside the image; an XML's image by its <filename> in the matching image folder (or the
YAML's `images`). VOC pixel indices are 1-based and inclusive: (xmin, ymin, xmax, ymax) becomes
(xmin - 1, ymin - 1, xmax, ymax). `difficult` objects and `ignore` objects become ignore boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from xml.parsers import expat

from edgeprune.data.config import DatasetConfig
from edgeprune.data.dataset import DataError, DataProblem, Sample
from edgeprune.data.formats.base import (
    BoxCollector,
    DatasetFormat,
    Entry,
    folder_files,
    list_lines,
    parse_floats,
    register_format,
    require_source,
    resolve_listed,
)
from edgeprune.data.formats.classmap import ClassMapper
from edgeprune.data.images import image_size, is_image_path

ANNOTATION_FOR_IMAGES = {"JPEGImages": "Annotations", "image": "image_annotation",
                         "images": "annotations"}
IMAGES_FOR_ANNOTATION = {value: key for key, value in ANNOTATION_FOR_IMAGES.items()}
IMAGE_GUESSES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG", ".bmp")


@dataclass
class VocObject:
    line: int
    fields: dict[str, str] = field(default_factory=dict)  # name, difficult, armor_color, ...
    box: dict[str, str] = field(default_factory=dict)  # xmin, ymin, xmax, ymax


@dataclass
class VocAnnotation:
    filename: str | None = None
    width: int | None = None
    height: int | None = None
    objects: list[VocObject] = field(default_factory=list)


@register_format
class VocFormat(DatasetFormat):
    name: ClassVar[str] = "voc"
    uses_class_map: ClassVar[bool] = True

    def load(self, config: DatasetConfig, split: str,
             names: list[str]) -> tuple[list[Sample], list[DataProblem]]:
        mapper = ClassMapper(config.class_map, names, config.source)
        samples: list[Sample] = []
        problems: list[DataProblem] = []
        for source in config.split_sources(split):
            require_source(config, split, source)
            for entry, xml_path, image_path in _entries(config, source, split):
                sample = _read(entry, xml_path, image_path, config, split, mapper, problems)
                if sample is not None:
                    samples.append(sample)
        return samples, problems

    @classmethod
    def claims(cls, config: DatasetConfig, source: Path) -> bool:
        if source.is_dir():
            sibling = source.parent / ANNOTATION_FOR_IMAGES.get(source.name, "")
            return _holds_xml(source) or (source.name in ANNOTATION_FOR_IMAGES
                                          and sibling.is_dir() and _holds_xml(sibling))
        if source.suffix.lower() == ".xml":
            return True
        if source.is_file() and not is_image_path(source):
            for _, line in list_lines(source):
                return line.lower().endswith(".xml") or (
                    len(line.split()) == 1 and "." not in Path(line).name)
        return False


def _holds_xml(folder: Path) -> bool:
    return any(path.suffix.lower() == ".xml" for path in folder.iterdir())


def _entries(config: DatasetConfig, source: Path, split: str):
    """(entry, XML path, image path or None when the XML must name it)."""
    if source.is_dir():
        xml_files = folder_files(source, lambda name: name.lower().endswith(".xml"))
        if xml_files:
            for path in xml_files:
                yield Entry(str(path), path), path, None
        else:
            for path in folder_files(source, is_image_path):
                yield Entry(str(path), path), annotation_for(path), path
        return
    if source.suffix.lower() == ".xml":
        yield Entry(str(source), source), source, None
        return
    if is_image_path(source):
        yield Entry(str(source), source), annotation_for(source), source
        return
    for number, line in list_lines(source):
        if line.lower().endswith(".xml") or is_image_path(line):
            path = resolve_listed(config, line, source)
            entry = Entry(line, path, source, number)
            yield (entry, path, None) if path.suffix.lower() == ".xml" else \
                (entry, annotation_for(path), path)
        else:  # a VOC id: <root>/Annotations/<id>.xml
            path = _voc_root(source, config) / "Annotations" / f"{line.split()[0]}.xml"
            yield Entry(line, path, source, number), path, None


def _voc_root(list_file: Path, config: DatasetConfig) -> Path:
    parts = list_file.parts
    if "ImageSets" in parts:
        return Path(*parts[:len(parts) - 1 - parts[::-1].index("ImageSets")])
    return config.root


def annotation_for(image: Path) -> Path:
    parts = list(image.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] in ANNOTATION_FOR_IMAGES:
            parts[index] = ANNOTATION_FOR_IMAGES[parts[index]]
            break
    return Path(*parts).with_suffix(".xml")


def _image_for(xml_path: Path, filename: str | None, config: DatasetConfig,
               split: str) -> tuple[Path | None, Path]:
    """(existing image or None, the first candidate for the error message)."""
    folders = [config.image_folder(split)] if config.image_folder(split) else []
    parts = list(xml_path.parent.parts)
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in IMAGES_FOR_ANNOTATION:
            folders.append(Path(*parts[:index], IMAGES_FOR_ANNOTATION[parts[index]],
                                *parts[index + 1:]))
            break
    folders.append(xml_path.parent)
    names = []
    if filename:
        names.append(Path(filename).name)
        if not is_image_path(filename):
            names += [filename + suffix for suffix in IMAGE_GUESSES]
    names += [xml_path.stem + suffix for suffix in IMAGE_GUESSES]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name, folder / name
    return None, folders[0] / names[0]


def _read(entry: Entry, xml_path: Path, image_path: Path | None, config: DatasetConfig,
          split: str, mapper: ClassMapper, problems: list[DataProblem]) -> Sample | None:
    if not xml_path.is_file():
        problems.append(entry.problem("missing_label", f"annotation {xml_path} not found"))
        return None
    try:
        annotation = parse_voc_xml(xml_path)
    except DataError as exc:
        problems.append(DataProblem("bad_label_file", str(xml_path), getattr(exc, "line", None),
                                    str(exc)))
        return None
    if image_path is None:
        image_path, candidate = _image_for(xml_path, annotation.filename, config, split)
        if image_path is None:
            problems.append(DataProblem("missing_image", str(xml_path), None,
                                        f"image {candidate} not found (<filename> "
                                        f"{annotation.filename!r})"))
            return None
    elif not image_path.is_file():
        problems.append(entry.problem("missing_image", f"image {image_path} not found"))
        return None
    width, height = annotation.width, annotation.height
    if not width or not height:  # some tools write 0 or leave <size> out
        try:
            width, height = image_size(image_path)
        except DataError as exc:
            problems.append(DataProblem("unreadable_image", str(image_path), None, str(exc)))
            return None
    boxes = BoxCollector(str(xml_path), width, height, problems)
    for obj in annotation.objects:
        _add_object(obj, boxes, mapper)
    sample = boxes.sample(image_path)
    sample.label_path = xml_path
    return sample


def _add_object(obj: VocObject, boxes: BoxCollector, mapper: ClassMapper) -> None:
    label = obj.fields.get("name", "").strip()
    values = parse_floats([obj.box.get(key, "") for key in ("xmin", "ymin", "xmax", "ymax")])
    if values is None:
        boxes.problem("bad_number", obj.line, f"object {label!r}: <bndbox> needs numeric xmin, "
                      f"ymin, xmax, ymax, got {obj.box}")
        return
    mapped = mapper.map(label, obj.fields)
    if mapped.problem:
        boxes.problem("unknown_class", obj.line, mapped.problem)
        return
    x1, y1, x2, y2 = values[0] - 1.0, values[1] - 1.0, values[2], values[3]
    if mapped.ignore or (mapped.class_id is not None
                         and obj.fields.get("difficult", "0").strip() == "1"):
        boxes.add_ignore(x1, y1, x2, y2, obj.line)
    elif mapped.class_id is not None:
        boxes.add(x1, y1, x2, y2, mapped.class_id, obj.line, f"object {label!r}")


class _XmlError(DataError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def parse_voc_xml(path: Path) -> VocAnnotation:
    """The fields of a VOC annotation, with the line of each <object> (expat keeps lines)."""
    annotation = VocAnnotation()
    stack: list[str] = []
    text: list[str] = []
    parser = expat.ParserCreate()
    current: list[VocObject] = []

    def start(tag, attributes):
        stack.append(tag)
        text.clear()
        if stack == ["annotation", "object"] or (len(stack) == 2 and tag == "object"):
            current.append(VocObject(parser.CurrentLineNumber))
            annotation.objects.append(current[-1])

    def end(tag):
        value = "".join(text).strip()
        text.clear()
        depth = len(stack)
        if depth == 2 and tag == "filename":
            annotation.filename = value
        elif depth == 3 and stack[1] == "size" and tag in ("width", "height"):
            number = parse_floats([value])
            setattr(annotation, tag, int(number[0]) if number else None)
        elif depth == 3 and stack[1] == "object" and current:
            current[-1].fields.setdefault(tag, value)
        elif depth == 4 and stack[1] == "object" and stack[2] == "bndbox" and current:
            current[-1].box[tag] = value
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(path.read_bytes(), True)
    except expat.ExpatError as exc:
        raise _XmlError(f"not valid XML ({expat.ErrorString(exc.code)})", exc.lineno) from None
    except OSError as exc:
        raise _XmlError(f"cannot read ({exc.strerror or exc})", None) from None
    return annotation
