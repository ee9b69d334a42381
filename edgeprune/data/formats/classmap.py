"""`class_map`: how named labels (VOC object names and attributes, COCO categories) become
classes of the dataset.

Keys are a label name, optionally with attribute conditions: `armor[armor_color=red]` or
`armor[armor_color=blue,armor_class=1]`. Values are a class name (may use `{attribute}`
placeholders: `"{armor_color}_armor"`), `ignore` (the region becomes an ignore box: neither a
hit nor a miss in evaluation), or null (dropped silently). Rules with more conditions are tried
first. A label no rule matches is its own class if `names` has it, an ignore region if it is
called `ignore`, and an `unknown_class` problem otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeprune.data.dataset import DataError

IGNORE = "ignore"
_KEY = re.compile(r"^\s*([^\[\]]+?)\s*(?:\[([^\]]*)\])?\s*$")


@dataclass(frozen=True)
class Rule:
    label: str
    conditions: tuple[tuple[str, str], ...]
    target: str | None


@dataclass(frozen=True)
class Mapped:
    """What a label became: a class id, an ignore region, dropped, or a problem message."""

    class_id: int | None = None
    ignore: bool = False
    problem: str | None = None


class ClassMapper:
    def __init__(self, class_map: dict | None, names: list[str], source: str) -> None:
        self.names = names
        self.index = {name: i for i, name in enumerate(names)}
        rules = [_parse_rule(key, target, source) for key, target in (class_map or {}).items()]
        self.rules = sorted(rules, key=lambda rule: -len(rule.conditions))

    def map(self, label: str, attributes: dict[str, str]) -> Mapped:
        for rule in self.rules:
            if rule.label == label and all(
                    attributes.get(key, "").strip().lower() == value.lower()
                    for key, value in rule.conditions):
                return self._target(rule, attributes)
        if label in self.index:
            return Mapped(class_id=self.index[label])
        if label == IGNORE:
            return Mapped(ignore=True)
        return Mapped(problem=f"label {label!r} is not a class ({', '.join(self.names)}) and "
                              f"no class_map rule matches it")

    def _target(self, rule: Rule, attributes: dict[str, str]) -> Mapped:
        if rule.target is None:
            return Mapped()
        if rule.target == IGNORE:
            return Mapped(ignore=True)
        try:
            name = rule.target.format_map({k: v.strip() for k, v in attributes.items()})
        except KeyError as missing:
            return Mapped(problem=f"label {rule.label!r} has no attribute {missing} needed by "
                                  f"class_map target {rule.target!r}")
        if name not in self.index:
            return Mapped(problem=f"label {rule.label!r} maps to {name!r}, which is not in "
                                  f"names ({', '.join(self.names)})")
        return Mapped(class_id=self.index[name])


def _parse_rule(key: str, target, source: str) -> Rule:
    match = _KEY.match(key)
    if not match:
        raise DataError(f"{source}: class_map key {key!r}: expected `label` or "
                        f"`label[attribute=value,...]`")
    conditions = []
    for condition in filter(None, (part.strip() for part in (match.group(2) or "").split(","))):
        attribute, sep, value = (part.strip() for part in condition.partition("="))
        if not sep or not attribute:
            raise DataError(f"{source}: class_map key {key!r}: condition {condition!r} must be "
                            f"attribute=value")
        conditions.append((attribute, value))
    return Rule(match.group(1), tuple(conditions), target)
