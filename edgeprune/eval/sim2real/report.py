"""results.json, the figures and report.md of a sim-to-real evaluation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from edgeprune.atomic import atomic_write_text
from edgeprune.eval.sim2real.plots import retention_plot, severity_plot, sim_real_plot
from edgeprune.eval.sim2real.result import METRIC_LABELS, ModelRobustness, Sim2RealResult


def write_outputs(result: Sim2RealResult) -> dict[str, Path]:
    """Write results.json, the plots and report.md into `result.out`; returns their paths."""
    out = result.out
    files = {"results": out / "results.json"}
    atomic_write_text(files["results"], json.dumps(result.to_json(), indent=2))
    figures = {"sim_vs_real": sim_real_plot(result, out / "sim_vs_real.png"),
               "severity": severity_plot(result, out / "severity.png"),
               "retention": retention_plot(result, out / "retention.png")}
    files.update({name: path for name, path in figures.items() if path is not None})
    files["report"] = out / "report.md"
    atomic_write_text(files["report"], report_markdown(result, files))
    result.files = files
    return files


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _is_number(cell: str) -> bool:
    try:
        float(cell.strip("*").replace(",", "").rstrip("%"))
    except ValueError:
        return cell == "-"
    return True


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; columns of numbers are right-aligned."""
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows)
               for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if right else "---" for right in numeric) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _data_line(role: str, data: dict) -> str:
    return (f"- {role}: `{data['source']}`, split `{data['split']}`, {data['images']} images, "
            f"{data['instances']} boxes")


def _comparison(models: list[ModelRobustness]) -> list[str]:
    """Which model keeps more of its accuracy, in plain numbers (no judgement on noise)."""
    if len(models) < 2:
        return []
    lines = []
    for what, value in (("real images (real/sim mAP@0.5)", lambda m: m.real_retention()),
                        ("the corruption suite (rPC, mAP@0.5)", lambda m: m.suite_retention())):
        ranked = sorted(((value(m), m.label) for m in models if value(m) is not None),
                        reverse=True)
        if len(ranked) >= 2:
            shown = ", ".join(f"{label} {percent(kept)}" for kept, label in ranked)
            lines.append(f"- Share of clean sim accuracy kept on {what}: {shown}.")
    return lines + ([""] if lines else [])


def report_markdown(result: Sim2RealResult, files: dict[str, Path]) -> str:
    from edgeprune import __version__

    models = result.models
    lines = ["# Sim-to-real robustness", "",
             f"`edgeprune eval sim2real`, edgeprune {__version__}, "
             f"{dt.datetime.now().isoformat(timespec='seconds')}.", "",
             _data_line("sim", result.datasets["sim"]),
             _data_line("real", result.datasets["real"]),
             f"- corruptions of the sim split: {', '.join(result.corruptions) or 'none'}; "
             f"severities {', '.join(map(str, result.severities))}; seed "
             f"{result.settings['seed']}", "", "## Summary", ""]
    lines += _table(
        ["model", "sim mAP@0.5", "real mAP@0.5", "gap", "real/sim", "corrupted mean (mPC)",
         "kept (rPC)", "weakest corruption"],
        [[m.label, number(m.sim.map50), number(m.real.map50), signed(m.gap()),
          percent(m.real_retention()), number(m.suite_mean()), percent(m.suite_retention()),
          m.weakest_corruption() or "-"] for m in models])
    lines += _comparison(models)
    lines += ["## Models", ""]
    lines += _table(["model", "weights", "backend", "input (w x h)", "parameters", "GFLOPs"],
                    [[m.label, f"`{m.weights}`", m.backend, f"{m.imgsz[1]}x{m.imgsz[0]}",
                      f"{m.params:,}" if m.params is not None else "-",
                      f"{m.gflops:.3f}" if m.gflops is not None else "-"] for m in models])
    lines += _gap_section(result, files)
    if result.corruptions:
        lines += _corruption_section(result, files)
    lines += _method_section(result)
    return "\n".join(lines)


def _gap_section(result: Sim2RealResult, files: dict[str, Path]) -> list[str]:
    lines = ["## Sim-to-real gap", "",
             "The same models on the sim and the real split; gap = sim - real (positive: "
             "accuracy lost on real images), real/sim = the share of the sim accuracy kept.",
             ""]
    header = ["model"]
    for metric in METRIC_LABELS.values():
        header += [f"sim {metric}", f"real {metric}", "gap", "real/sim"]
    rows = []
    for m in result.models:
        row = [m.label]
        for metric in METRIC_LABELS:
            row += [number(m.sim.metric(metric)), number(m.real.metric(metric)),
                    signed(m.gap(metric)), percent(m.real_retention(metric))]
        rows.append(row)
    lines += _table(header, rows)
    if "sim_vs_real" in files:
        lines += ["![sim vs real](sim_vs_real.png)", ""]
    names = result.datasets["sim"]["names"]
    header = ["class"] + [f"{m.label} {domain}" for m in result.models
                          for domain in ("sim", "real")]
    rows = []
    for k, name in enumerate(names):
        row = [name]
        for m in result.models:
            for score in (m.sim, m.real):
                row.append(number(score.classes[k]["ap50"]) if score.classes else "-")
        rows.append(row)
    return lines + ["AP@0.5 per class:", ""] + _table(header, rows)


def _corruption_section(result: Sim2RealResult, files: dict[str, Path]) -> list[str]:
    lines = ["## Camera corruptions of the sim split", "",
             "Each corruption at each severity applied to every sim image; mean = the mean "
             "over the severities evaluated (0, the clean image, left out), kept = mean / clean "
             "sim mAP. The suite mean over every "
             "corruption and severity is mPC, kept relative to clean is rPC (Michaelis et al., "
             "Benchmarking Robustness in Object Detection, 2019).", ""]
    header = ["corruption"]
    for m in result.models:
        header += [f"{m.label} mean mAP@0.5", f"{m.label} kept"]
    rows = []
    for name in result.corruptions:
        row = [name]
        for m in result.models:
            row += [number(m.corruption_mean(name)), percent(m.corruption_retention(name))]
        rows.append(row)
    suite = ["**suite (mPC, rPC)**"]
    for m in result.models:
        suite += [number(m.suite_mean()), percent(m.suite_retention())]
    lines += _table(header, rows + [suite])
    for name, title in (("severity", "mAP@0.5 against severity"),
                        ("retention", "share of clean mAP@0.5 kept")):
        if name in files:
            lines += [f"![{title}]({files[name].name})", ""]
    for metric, label in METRIC_LABELS.items():
        lines += [f"### {label} by severity", ""]
        severities = [s for s in result.severities if s > 0] or result.severities
        rows = []
        for name in result.corruptions:
            for m in result.models:
                by = m.corruptions[name]
                rows.append([name, m.label, number(m.sim.metric(metric))]
                            + [number(by[s].metric(metric)) for s in severities])
        lines += _table(["corruption", "model", "clean"] + [str(s) for s in severities], rows)
    return lines


def _method_section(result: Sim2RealResult) -> list[str]:
    from edgeprune.data.corruptions import CORRUPTIONS

    settings = result.settings
    lines = ["## How this was measured", "",
             f"- Detector as `edgeprune val` runs it: confidence {settings['conf_threshold']}, "
             f"NMS IoU {settings['iou_threshold']}, multi-label, at most "
             f"{settings['max_detections']} detections per image; COCO mAP by pycocotools.",
             "- Every model saw exactly the same images: the corrupted image for (image, "
             "corruption, severity) comes from a generator seeded by (seed, image index, "
             "corruption, severity) alone.",
             f"- Images: {result.image_reading}.",
             f"- This call evaluated {result.computed} (model, condition) pairs and took "
             f"{result.reused} from an earlier run in this folder; {result.seconds:.1f} s.",
             *[f"- Note: {note}" for note in result.notes], ""]
    if result.corruptions:
        rows = [[name, CORRUPTIONS.get(name).summary,
                 ", ".join(str(CORRUPTIONS.get(name).levels[s - 1]) for s in result.severities
                           if s > 0) or "-"] for name in result.corruptions]
        lines += _table(["corruption", "what it simulates", "parameter at the severities"],
                        rows)
    return lines
