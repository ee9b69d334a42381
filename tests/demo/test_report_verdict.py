"""The demo report's verdict: a win over the scratch model needs equal or lower latency."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgeprune.demo.report import _verdict
from edgeprune.demo.steps import ModelEvaluation


def evaluation(name: str, ms: float, map50: float) -> ModelEvaluation:
    return ModelEvaluation(name, Path(f"{name}.pt"), ms, 1.0, 1000,
                           {"sim": SimpleNamespace(map50=map50, map50_95=map50 / 2)})


@pytest.mark.parametrize(("tuned_ms", "tuned_map", "word"), [
    (10.0, 0.62, "beats"),                               # faster and more accurate
    (10.2, 0.62, "beats"),                               # within 3%: equal latency
    (12.84, 0.6172, "is more accurate but slower than"),  # the d1 demo: +0.3 points, 19% slower
    (9.0, 0.60, "does NOT beat"),
])
def test_verdict_needs_equal_or_lower_latency(tuned_ms, tuned_map, word):
    result = SimpleNamespace(evaluations=[
        evaluation("base", 30.0, 0.85), evaluation("fine-tuned", tuned_ms, tuned_map),
        evaluation("scratch (yolov3 w0.125)", 10.0, 0.6144)])
    sentence = _verdict(result)[1]
    assert sentence.startswith(f"**The searched network {word} the model trained from scratch")
    assert ("a win needs equal or lower latency" in sentence) == (tuned_ms > 10.3)


def test_demo_proxy_names_agree_with_the_registries():
    # settings.py names them without importing torch; these are the names the code knows
    from edgeprune.demo.settings import DEMO_PROXIES, WEIGHT_SHARING_PROXIES
    from edgeprune.search.proxy import PROXIES
    from edgeprune.supernet.network import FORMS

    assert set(WEIGHT_SHARING_PROXIES) == set(FORMS)
    assert set(DEMO_PROXIES) <= set(PROXIES.names())
