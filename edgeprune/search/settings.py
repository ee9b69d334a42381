"""Everything a search depends on, saved as the run's config.yaml so `--resume` can rebuild it.

Settings only: what the search measures (the base model's latency and accuracy, the resolved
target) is the run's state, in measured_base.json (measured_base.py). The server token is never
written (pass it again, or set EDGEPRUNE_SERVER_TOKEN, when resuming).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError
from edgeprune.search.reward import RewardConfig
from edgeprune.search.robust import RobustSettings
from edgeprune.search.target import Target, parse_latency_ms

CONFIG = "config.yaml"


@dataclass(frozen=True)
class ProxySettings:
    recal_batches: int = 20  # K: batches for BN re-estimation
    batch_size: int = 8
    finetune_steps: int = 20  # k: training steps of the `finetune` proxy
    finetune_lr: float = 5e-4  # Adam learning rate of those steps
    supernet: str | None = None  # weight-sharing network file (pruningnet, slimmable)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.recal_batches < 1 or self.batch_size < 1:
            raise EdgepruneError("--recal-batches and the proxy batch size must be at least 1")
        if self.finetune_steps < 1 or self.finetune_lr <= 0:
            raise EdgepruneError("--finetune-steps must be at least 1 and the fine-tuning "
                                 "learning rate positive")

    def to_dict(self) -> dict:
        return asdict(self)


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
    bad_data: str = "skip"  # data problems: skip (named in the run folder) or stop
    # model: the device's latency model scores candidates whose measurement would decide
    # nothing (search/measuring.py); measure: every candidate is measured
    latency_mode: str = "model"
    audit_rate: float = 0.05  # share of the model's candidates measured anyway, as a check
    # measure a candidate the model scores when it could enter the Pareto front: that front
    # is for the report (the best needs none of it) and takes most of a search's measurements
    # (90 of 113 in docs/search.md's run); off, the front holds fewer, all measured, points
    measure_front: bool = True
    robust: RobustSettings | None = None  # a robust accuracy in the reward (search/robust.py)

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise EdgepruneError(f"--budget must be at least 1, got {self.budget}")
        if self.round_size < 1:
            raise EdgepruneError(f"--round-size must be at least 1, got {self.round_size}")
        if not 0 < self.min_ratio <= 1:
            raise EdgepruneError(f"--min-ratio must be in (0, 1], got {self.min_ratio}")
        if self.val_images is not None and self.val_images < 1:
            raise EdgepruneError(f"--val-images must be at least 1, got {self.val_images}")
        from edgeprune.data.bad_data import check_bad_data_choice
        from edgeprune.latency.protocol import Protocol
        from edgeprune.prune.importance import get_importance
        from edgeprune.search.agents.base import AGENTS

        AGENTS.get(self.agent)  # an unknown agent fails here, naming the known ones
        Protocol().with_overrides(self.protocol, "--protocol")  # bad fields fail before any work
        get_importance(self.importance)
        check_bad_data_choice(self.bad_data)
        if self.latency_mode not in ("model", "measure"):
            raise EdgepruneError(f"--latency-mode {self.latency_mode!r}: use model or measure")
        if not 0 <= self.audit_rate <= 1:
            raise EdgepruneError(f"--audit-rate must be in [0, 1], got {self.audit_rate}")

    @classmethod
    def from_options(cls, values: dict[str, Any]) -> SearchSettings:
        """A fresh search's settings from values by dotted setting name (`budget`,
        `reward.kind`, `target.latency_ms`: what `edgeprune search` gives, see OPTION_SETTINGS
        there), None where the option was not given. The inputs must exist; a weight-sharing
        network brings its channel grid (`resolve_grid`)."""
        values = dict(values)
        data, weights = values.pop("data", None), values.pop("weights", None)
        if not data:
            raise EdgepruneError("--data is required (a dataset YAML; its train split feeds "
                                 "the accuracy proxy, its val split scores it)")
        if not weights:
            raise EdgepruneError("--weights is required (the base model checkpoint, .pt)")
        for path, what in ((data, "--data"), (weights, "--weights")):
            if not Path(path).exists():
                raise EdgepruneError(f"{path}: {what} not found")
        from edgeprune.search.agents.base import AGENTS

        AGENTS.get(values.get("agent") or setting_default("agent"))  # before the target's
        latency, speedup = values.pop("target.latency_ms", None), values.pop("target.speedup",
                                                                              None)
        if latency is not None and speedup is not None:
            raise EdgepruneError("give --target-latency or --target-speedup, not both")
        target = Target(latency_ms=parse_latency_ms(latency) if latency is not None else None,
                        speedup=speedup)
        supernet = values.pop("proxy_settings.supernet", None)
        proxy, grid = resolve_grid(values.pop("proxy", None), supernet,
                                   values.pop("round_to", None), values.pop("min_channels", None),
                                   values.pop("min_ratio", None))
        nested: dict[str, dict] = {"reward": {}, "proxy_settings": {}, "robust": {}}
        flat: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue  # not given: the setting's default
            parent, _, child = name.rpartition(".")
            (nested[parent] if parent else flat)[child] = value
        for name in ("latency_cache", "latency_table"):
            if flat.get(name):
                flat[name] = str(Path(flat[name]).resolve())
        nested["proxy_settings"].update(
            supernet=str(Path(supernet).resolve()) if supernet else None,
            seed=flat.get("seed", setting_default("seed")))
        return cls(weights=str(Path(weights).resolve()), data=str(Path(data).resolve()),
                   target=target, proxy=proxy, **grid, reward=RewardConfig(**nested["reward"]),
                   proxy_settings=ProxySettings(**nested["proxy_settings"]),
                   robust=robust_settings(nested["robust"]), **flat)

    def replace(self, **changes) -> SearchSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["target"] = self.target.to_dict()
        data["reward"] = self.reward.to_dict()
        data["proxy_settings"] = self.proxy_settings.to_dict()
        data["robust"] = self.robust.to_dict() if self.robust else None
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
        values.pop("baseline", None)  # the measured base in early releases: load_measured_base
        #                               reads it there
        values.setdefault("interleave", False)  # written before candidates had a reference
        values.setdefault("latency_mode", "measure")  # written before the latency model
        try:
            values["target"] = Target.from_dict(values["target"])
            values["reward"] = RewardConfig.from_dict(values.get("reward") or {})
            values["proxy_settings"] = ProxySettings(**(values.get("proxy_settings") or {}))
            values["robust"] = RobustSettings.from_dict(values.get("robust"))
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


NESTED = {"reward": RewardConfig, "proxy_settings": ProxySettings, "target": Target,
          "robust": RobustSettings}


def setting_default(name: str) -> Any:
    """The declared default of the setting `name` (dotted: `reward.kind`); the command line
    takes its defaults from here, so they are declared once."""
    owner: type = SearchSettings
    *parents, leaf = name.split(".")
    for parent in parents:
        owner = NESTED[parent]
    declared = {f.name: f for f in dataclasses.fields(owner)}[leaf]
    if declared.default is not dataclasses.MISSING:
        return declared.default
    if declared.default_factory is not dataclasses.MISSING:
        return declared.default_factory()
    raise KeyError(f"setting {name!r} has no default")


def setting_names() -> list[str]:
    """Every setting by dotted name, nested dataclasses opened."""
    names = []
    for declared in dataclasses.fields(SearchSettings):
        if declared.name in NESTED:
            names += [f"{declared.name}.{f.name}"
                      for f in dataclasses.fields(NESTED[declared.name])]
        else:
            names.append(declared.name)
    return names


def resolve_grid(proxy: str | None, supernet: str | None, round_to: int | None,
                 min_channels: int | None, min_ratio: float | None) -> tuple[str, dict]:
    """The proxy and the channel grid: a weight-sharing network brings its own grid, and a
    search must stay inside it; without one, the settings' defaults."""
    weight_sharing = ("pruningnet", "slimmable")
    if supernet is None:
        if proxy in weight_sharing:
            raise EdgepruneError(f"--proxy {proxy} reads a weight-sharing network: give "
                                 f"--supernet FILE (edgeprune supernet train --form {proxy})")
        return proxy or setting_default("proxy"), {
            "round_to": round_to or setting_default("round_to"),
            "min_channels": min_channels or setting_default("min_channels"),
            "min_ratio": min_ratio or setting_default("min_ratio")}
    from edgeprune.supernet.file import read_supernet_data

    data = read_supernet_data(supernet)
    if proxy is not None and proxy not in weight_sharing:
        raise EdgepruneError(f"--supernet is read by the pruningnet and slimmable proxies, "
                             f"not by --proxy {proxy}")
    rules = data["rules"]
    for value, key, option in ((round_to, "round_to", "--round-to"),
                               (min_channels, "min_channels", "--min-channels")):
        if value is not None and value != rules[key]:
            raise EdgepruneError(f"{option} {value}: {supernet} was trained with "
                                 f"{option} {rules[key]}; the search must use its grid")
    if min_ratio is not None and min_ratio < rules["min_ratio"]:
        raise EdgepruneError(f"--min-ratio {min_ratio:g}: {supernet} covers keep ratios "
                             f"down to {rules['min_ratio']:g} only")
    return proxy or data["form"], {"round_to": rules["round_to"],
                                   "min_channels": rules["min_channels"],
                                   "min_ratio": min_ratio or rules["min_ratio"]}


def robust_settings(given: dict) -> RobustSettings | None:
    """The robust accuracy the options describe (None when none was asked for): corruption
    names as the sim-to-real suite reads them (a list, or all), severities as ranges."""
    if not given:
        return None
    from edgeprune.data.corruptions import CorruptionError
    from edgeprune.eval.sim2real.suite import parse_corruptions, parse_severities

    values = dict(given)
    try:
        if values.get("corruptions") is not None:
            values["corruptions"] = tuple(parse_corruptions(values["corruptions"]))
        if values.get("severities") is not None:
            values["severities"] = tuple(parse_severities(values["severities"]))
    except CorruptionError as exc:
        raise EdgepruneError(f"--robust-corruptions/--robust-severities: {exc}") from None
    if values.get("real"):
        values["real"] = str(Path(values["real"]).resolve())
    return RobustSettings(**values)
