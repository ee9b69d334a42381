"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

from edgeprune.eval.sim2real.result import Sim2RealResult
from edgeprune.plotting import pyplot, save_figure


def severity_plot(result: Sim2RealResult, path: Path) -> Path | None:
    """mAP@0.5 against severity, one panel per corruption, one line per model; severity 0 is
    the clean sim split."""
    if not result.corruptions:
        return None
    plt = pyplot()
    columns = min(4, len(result.corruptions))
    rows = math.ceil(len(result.corruptions) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows),
                                sharey=True, squeeze=False)
    top = max([m.sim.map50 for m in result.models] +
              [s.map50 for m in result.models for by in m.corruptions.values()
               for s in by.values()] + [0.05])
    for panel, name in zip(axes.flat, result.corruptions, strict=False):
        for model in result.models:
            points = {0: model.sim.map50} | {s: score.map50 for s, score in
                                             model.corruptions[name].items()}
            severities = sorted(points)
            panel.plot(severities, [points[s] for s in severities], marker="o",
                       label=model.label)
        panel.set_title(name, fontsize=10)
        panel.set_xticks(range(0, 6))
        panel.set_ylim(0, top * 1.08)
        panel.grid(alpha=0.3)
    for panel in axes[:, 0]:
        panel.set_ylabel("mAP@0.5")
    for panel in axes[-1, :]:
        panel.set_xlabel("severity (0 = clean)")
    for panel in list(axes.flat)[len(result.corruptions):]:
        panel.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4),
                  bbox_to_anchor=(0.5, 1.02 + 0.02 * (4 - rows) / 4))
    figure.suptitle("mAP@0.5 on the corrupted sim split", y=1.06)
    figure.tight_layout()
    return save_figure(figure, path)


def sim_real_plot(result: Sim2RealResult, path: Path) -> Path:
    """Bars of sim and real mAP per model (mAP@0.5 and mAP@0.5:0.95), real/sim written on top."""
    plt = pyplot()
    labels = [model.label for model in result.models]
    figure, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.6 * len(labels) + 3.0), 3.4))
    width = 0.38
    for panel, metric, title in ((axes[0], "map50", "mAP@0.5"),
                                 (axes[1], "map50_95", "mAP@0.5:0.95")):
        sim = [model.sim.metric(metric) for model in result.models]
        real = [model.real.metric(metric) for model in result.models]
        positions = range(len(labels))
        panel.bar([p - width / 2 for p in positions], sim, width, label="sim")
        bars = panel.bar([p + width / 2 for p in positions], real, width, label="real")
        for bar, model in zip(bars, result.models, strict=True):
            kept = model.real_retention(metric)
            if kept is not None:
                panel.annotate(f"{kept:.0%}", (bar.get_x() + bar.get_width() / 2,
                                               bar.get_height()),
                               ha="center", va="bottom", fontsize=8)
        panel.set_xticks(list(positions), labels, rotation=20 if len(labels) > 3 else 0)
        panel.set_title(f"{title} (real/sim on top)", fontsize=10)
        panel.set_ylim(0, max(sim + real + [0.05]) * 1.15)
        panel.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)


def retention_plot(result: Sim2RealResult, path: Path) -> Path | None:
    """Per corruption, the share of the clean mAP@0.5 each model keeps (mean over severities),
    and the whole suite's (rPC)."""
    if not result.corruptions or not any(s > 0 for s in result.severities):
        return None
    plt = pyplot()
    rows = [*result.corruptions, "suite (rPC)"]
    count = len(result.models)
    height = 0.8 / count
    figure, panel = plt.subplots(figsize=(7.0, 0.22 * len(rows) * max(count, 2) + 1.0))
    for k, model in enumerate(result.models):
        values = [model.corruption_retention(name) for name in result.corruptions]
        values.append(model.suite_retention())
        positions = [i + (k - (count - 1) / 2) * height for i in range(len(rows))]
        panel.barh(positions, [100 * (v or 0.0) for v in values], height, label=model.label)
    panel.axvline(100, color="black", linewidth=0.8)
    panel.set_yticks(range(len(rows)), rows)
    panel.invert_yaxis()
    panel.set_xlabel("mAP@0.5 kept, % of clean sim (mean over severities)")
    panel.grid(axis="x", alpha=0.3)
    # above the bars: inside, a corner legend hides the last rows when many models are compared
    panel.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                 ncol=min(count, 3), frameon=False)
    figure.tight_layout()
    return save_figure(figure, path)
