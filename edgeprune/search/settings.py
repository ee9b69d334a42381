"""Everything a search depends on, saved as the run's config.yaml so `--resume` can rebuild it.

Settings only: what the search measures (the base model's latency and accuracy, the resolved
target) is the run's state, in baseline.json (baseline.py). The server token is never written
(pass it again, or set EDGEPRUNE_SERVER_TOKEN, when resuming).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError
from edgeprune.search.proxy import ProxySettings
from edgeprune.search.reward import RewardConfig
from edgeprune.search.target import Target

CONFIG = "config.yaml"


@dataclass(frozen=True)
class SearchSettings:
    weights: str  # base checkpoint (absolute path)
    data: str  # dataset YAML (absolute path)
    target: Target
    device: str = "cpu"
    precision: str | None = None
    threads: int | None = None
    protocol: dict = field(default_factory=dict)
    latency_cache: str | None = None  # None: latency.sqlite in the run folder
    agent: str = "abcp"
    agent_options: dict = field(default_factory=dict)
    budget: int = 40
    round_size: int = 1  # candidates proposed together, before the agent learns from them
    reward: RewardConfig = field(default_factory=RewardConfig)
    proxy: str = "bn-recal"
    proxy_settings: ProxySettings = field(default_factory=ProxySettings)
    val_images: int | None = 100
    imgsz: tuple[int, int] | None = None  # None: the device profile's, else the checkpoint's
    round_to: int = 8
    min_channels: int = 8
    min_ratio: float = 0.125
    importance: str = "l1"
    seed: int = 0
    interleave: bool = True  # time candidates interleaved with the base (drift-corrected)
    latency_table: str | None = None  # per-layer table for `halp`; None: measured into the run

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise EdgepruneError(f"--budget must be at least 1, got {self.budget}")
        if self.round_size < 1:
            raise EdgepruneError(f"--round-size must be at least 1, got {self.round_size}")
        if not 0 < self.min_ratio <= 1:
            raise EdgepruneError(f"--min-ratio must be in (0, 1], got {self.min_ratio}")
        if self.val_images is not None and self.val_images < 1:
            raise EdgepruneError(f"--val-images must be at least 1, got {self.val_images}")

    def replace(self, **changes) -> SearchSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["target"] = self.target.to_dict()
        data["reward"] = self.reward.to_dict()
        data["proxy_settings"] = self.proxy_settings.to_dict()
        data["imgsz"] = list(self.imgsz) if self.imgsz else None
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = CONFIG) -> SearchSettings:
        if not isinstance(data, dict):
            raise EdgepruneError(f"{source}: not a search configuration (expected a mapping)")
        known = {f.name for f in dataclasses.fields(cls)} | {"baseline"}  # see below
        unknown = sorted(set(data) - known)
        if unknown:
            raise EdgepruneError(f"{source}: unknown key {unknown[0]!r} (written by a newer "
                                 f"edgeprune?)")
        values = dict(data)
        values.pop("baseline", None)  # measured state in earlier releases: load_baseline reads it
        values.setdefault("interleave", False)  # written before candidates had a reference
        try:
            values["target"] = Target.from_dict(values["target"])
            values["reward"] = RewardConfig.from_dict(values.get("reward") or {})
            values["proxy_settings"] = ProxySettings(**(values.get("proxy_settings") or {}))
            if values.get("imgsz"):
                values["imgsz"] = tuple(int(v) for v in values["imgsz"])
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgepruneError(f"{source}: malformed search configuration ({exc})") from None

    def save(self, run_dir: Path) -> None:
        atomic_write_text(run_dir / CONFIG, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, run_dir: Path) -> SearchSettings:
        path = Path(run_dir) / CONFIG
        if not path.is_file():
            raise EdgepruneError(f"{run_dir}: not a search run folder (no {CONFIG})")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise EdgepruneError(f"{path}: not valid YAML ({exc})") from None
        return cls.from_dict(data, str(path))
