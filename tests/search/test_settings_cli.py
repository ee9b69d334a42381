"""`edgeprune search`'s options and SearchSettings say the same thing: every option sets one
setting and takes its default from it, and every setting is an option or derived."""

from __future__ import annotations

import click
import pytest

from edgeprune.cli.search_cmd import DERIVED, NOT_SETTINGS, OPTION_SETTINGS, search
from edgeprune.errors import EdgepruneError
from edgeprune.search.settings import SearchSettings, setting_default, setting_names
from edgeprune.search.target import Target

# options whose default is resolved when the search starts: from the --supernet file, or the
# device profile, or the checkpoint
RESOLVED_LATER = {"proxy", "round_to", "min_channels", "min_ratio", "imgsz", "precision",
                  "ort_threads", "latency_cache", "latency_table", "supernet_path"}


def options() -> dict[str, click.Option]:
    return {p.name: p for p in search.params
            if isinstance(p, click.Option) and not p.hidden}


def test_every_option_is_a_setting_with_the_settings_default():
    parsed = search.make_context("search", []).params  # what a bare `edgeprune search` gets
    for name, option in options().items():
        if name in NOT_SETTINGS:
            continue
        default = parsed[name]
        assert name in OPTION_SETTINGS, f"--{name}: which setting does it set?"
        setting = OPTION_SETTINGS[name]
        if option.multiple:  # KEY=VALUE items: an empty mapping
            assert setting_default(setting) == {} and not default
        elif name in RESOLVED_LATER or setting.startswith(("target.", "robust.")) or \
                name in ("data", "weights"):  # robust.*: not given, no robust accuracy at all
            assert default is None, name
        else:
            assert default == setting_default(setting), name


def test_every_setting_is_an_option_or_derived():
    set_by_options = set(OPTION_SETTINGS.values())
    for name in setting_names():
        if name in ("target", "reward", "proxy_settings", "robust"):
            continue
        assert name in set_by_options or name in DERIVED, f"setting {name}: no option sets it"
    assert not DERIVED & set_by_options


def base(tmp_path) -> dict:
    (tmp_path / "d.yaml").write_text("names: [a]\n")
    (tmp_path / "w.pt").write_bytes(b"")
    return {"data": str(tmp_path / "d.yaml"), "weights": str(tmp_path / "w.pt"),
            "target.speedup": 2.0}


def test_settings_from_options_fill_defaults_and_nest(tmp_path):
    settings = SearchSettings.from_options({**base(tmp_path), "reward.kind": "soft",
                                            "proxy_settings.batch_size": 4, "seed": 3,
                                            "budget": None})
    assert settings.reward.kind == "soft" and settings.reward.beta == -0.5
    assert settings.proxy_settings.batch_size == 4 and settings.proxy_settings.seed == 3
    assert settings.budget == 40 and settings.proxy == "bn-recal" and settings.round_to == 8
    assert settings.target == Target(speedup=2.0)


@pytest.mark.parametrize(("change", "message"), [
    ({"data": None}, "--data is required"),
    ({"weights": "/nowhere.pt"}, "/nowhere.pt: --weights not found"),
    ({"agent": "simulated-annealing"}, "unknown search agent 'simulated-annealing'"),
    ({"target.latency_ms": "5ms"}, "not both"),
    ({"proxy": "pruningnet"}, "give --supernet FILE"),
    ({"protocol": {"max_runs": "-3"}}, "max_runs"),
    ({"importance": "loudest"}, "loudest"),
    ({"budget": 0}, "--budget must be at least 1"),
])
def test_the_settings_check_what_the_command_line_used_to(tmp_path, change, message):
    with pytest.raises(EdgepruneError, match=message):
        SearchSettings.from_options({**base(tmp_path), **change})
