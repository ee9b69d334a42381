"""The robust-search benchmark's result file: sizes, base / clean-searched / robust-searched
side by side (clean, held-out corruptions, corruptions the reward saw, real domain,
retention, measured latency), every run, and issue 28's goals met or missed."""

from __future__ import annotations

import statistics

from search_goals import LATENCY_TOLERANCE, verdict

HELD_GAIN, REAL_GAIN, CLEAN_LOSS = 0.04, 0.03, 0.01  # issue 28's goals, decided before
COLUMNS = ("clean", "held_out", "seen", "real", "retention", "ms")


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def cell(values: list[float], digits: int = 4) -> str:
    mean = statistics.fmean(values)
    return (f"{mean:.{digits}f} +- {spread(values):.{digits}f}" if len(values) > 1
            else f"{mean:.{digits}f}")


def goals(rows: dict[str, dict], kinds: dict[str, list[str]]) -> list[str]:
    clean = [rows[n] for n in kinds["clean"]]
    robust = [rows[n] for n in kinds["robust"]]
    base = rows["base"]

    def gap(key: str) -> tuple[float, float]:
        ours, theirs = [r[key] for r in robust], [r[key] for r in clean]
        return (statistics.fmean(ours) - statistics.fmean(theirs),
                max(spread(ours), spread(theirs)))

    slower = (statistics.fmean(r["ms"] for r in robust)
              / statistics.fmean(r["ms"] for r in clean) - 1)
    equal = slower <= LATENCY_TOLERANCE
    held, held_std = gap("held_out")
    real, real_std = gap("real")
    lost = -gap("clean")[0]
    three = len(robust) >= 3 and len(clean) >= 3
    first = (equal and held >= HELD_GAIN and held > held_std and real >= REAL_GAIN
             and real > real_std and lost <= CLEAN_LOSS)
    retention = statistics.fmean(r["retention"] for r in robust)
    return [
        f"1. At equal measured latency (robust {slower:+.1%} against clean; at most "
        f"{LATENCY_TOLERANCE:.0%} slower: {'yes' if equal else 'no'}), the robust-searched "
        f"network over the clean-searched one: held-out corruptions {held * 100:+.1f} points "
        f"(needs >= +{HELD_GAIN * 100:g}, std {held_std * 100:.1f}), real domain "
        f"{real * 100:+.1f} (needs >= +{REAL_GAIN * 100:g}, std {real_std * 100:.1f}), clean "
        f"{-lost * 100:+.1f} (may lose <= {CLEAN_LOSS * 100:g}) -> "
        f"{verdict(first if three else None)}"
        + ("" if three else f" (needs 3 seeds; this run has {len(robust)})"),
        f"2. Its retention under the held-out corruptions {retention:.1%} against the base's "
        f"{base['retention']:.1%} -> {verdict(retention > base['retention'])}"]


def write_report(args, context: dict) -> None:
    rows, runs = context["rows"], context["runs"]
    kinds = {kind: [r["name"] for r in runs if r["kind"] == kind] for kind in ("clean",
                                                                              "robust")}
    base = rows["base"]
    lines = [
        "# Search for robustness: robust-searched vs clean-searched, on corruptions the "
        "search never saw and on the real domain", "",
        f"Recorded {context['recorded']} by `{context['command']}` (commit "
        f"{context['commit']}; WORK = `{args.work}`), {context['seconds'] / 60:.0f} min this "
        f"invocation.", "",
        "## Machine", "", f"- {context['machine']}",
        *[f"- load, {when}: `{line}`" for when, line in context["loads"].items()], "",
        "## Sizes", "",
        f"- base: yolov3 width {args.width:g} at {args.imgsz} px, {args.images} sim images, "
        f"trained until converged: {context['base_info']['epochs']} epochs",
        f"- searches: `abcp` at {args.target:g}x, seeds 0..{args.seeds - 1}, budget "
        f"{args.budget}, {args.val_images}-image val subset; robust: weight "
        f"{args.robust_weight:g}, the corruptions below, the user's real val split "
        f"({args.user_images} real images generated, seed 1)",
        f"- corruptions the reward and robust fine-tuning use: "
        f"{', '.join(context['reward_corruptions'])}",
        f"- held out (never seen by a search or a fine-tuning): "
        f"{', '.join(context['held_out'])}",
        f"- evaluation: `edgeprune eval sim2real`, severities {args.severities}; real domain: "
        f"a separate generated set ({args.eval_images} images, seed 2), its val split; "
        f"latency side by side, ONNX Runtime 1 thread, {args.rounds} rounds", "",
        "## Side by side (mAP@0.5; mean +- std over seeds)", "",
        "| model | runs | clean sim | held-out corruptions | corruptions the reward saw | "
        "real domain | retention (held-out / clean) | latency ms | speedup |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| base | 1 | {base['clean']:.4f} | {base['held_out']:.4f} | {base['seen']:.4f} | "
        f"{base['real']:.4f} | {base['retention']:.1%} | {base['ms']:.2f} | 1.00x |"]
    for kind, names in kinds.items():
        mine = [rows[n] for n in names]
        lines.append(f"| {kind}-searched | {len(mine)} | "
                     + " | ".join(cell([r[c] for r in mine]) for c in COLUMNS[:4])
                     + f" | {statistics.fmean(r['retention'] for r in mine):.1%} | "
                     f"{cell([r['ms'] for r in mine], 2)} | "
                     f"{base['ms'] / statistics.fmean(r['ms'] for r in mine):.2f}x |")
    lines += ["", "## Goals (issue 28; decided before the run)", "", *goals(rows, kinds), "",
              "## Every run", "",
              "| run | clean | held-out | seen | real | retention | ms | search's best accuracy "
              "(clean, or its robust combination) |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for run in runs:
        row = rows[run["name"]]
        lines.append(f"| {run['name']} | {row['clean']:.4f} | {row['held_out']:.4f} | "
                     f"{row['seen']:.4f} | {row['real']:.4f} | {row['retention']:.1%} | "
                     f"{row['ms']:.2f} | {run['search_info']['proxy_map50']:.4f} |")
    lines += ["", "## Commands", "", "```sh", *dict.fromkeys(context["commands"]), "```", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(args.out)
