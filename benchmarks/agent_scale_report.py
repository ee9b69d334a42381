"""The agent-scale sweep's result file: sizes, the table of every setting (best reward found
after 50..300 candidates, how far the proposals moved, the share within the target), the
setting each learning agent keeps by the rule decided before the run, and a plot of the best
reward found against candidates spent."""

from __future__ import annotations

from pathlib import Path


def cell(pair: tuple[float, float]) -> str:
    mean, std = pair
    return f"{mean:.4f} +- {std:.4f}"


def plot(summary: dict[str, dict], path: Path) -> Path:
    """Best reward found against candidates spent, mean over seeds, one line per setting."""
    import numpy as np

    from edgeprune.plotting import pyplot, save_figure

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))
    for setting, row in summary.items():
        length = min(len(c) for c in row["curves"])
        curve = np.mean([c[:length] for c in row["curves"]], axis=0)
        style = "--" if row["agent"] in ("random", "evolution") else "-"
        axes.plot(np.arange(1, length + 1), curve, style, label=setting)
    axes.set_xlabel("candidates evaluated")
    axes.set_ylabel("best reward found (mean of seeds)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    return save_figure(figure, path)


def write_report(args, context: dict) -> None:
    summary, checkpoints = context["summary"], context["checkpoints"]
    base = context["base_info"]
    lines = [
        "# The agents at hundreds of candidates (settings sweep on a small base)", "",
        f"Recorded {context['recorded']} by `{context['command']}` (commit "
        f"{context['commit']}; WORK = `{args.work}`), {context['seconds'] / 60:.0f} min.", "",
        "## Machine", "", f"- {context['machine']}",
        *[f"- load, {when}: `{line}`" for when, line in context["loads"].items()], "",
        "## Sizes", "",
        f"- base: yolov3 width {args.width:g} at {args.imgsz} px, {args.images} generated sim "
        f"images, `train --plateau {args.plateau}` (at most {args.max_epochs} epochs): "
        f"{base['epochs']} epochs, {base['train_seconds'] / 60:.1f} min",
        f"- weight-sharing network {args.supernet_epochs:g} epochs: "
        f"{context['supernet_info']['train_seconds'] / 60:.1f} min",
        f"- every search: target {args.target:g}x, budget {args.budget}, seeds 0..{args.seeds - 1}"
        f", {args.val_images}-image val subset, {args.recal_batches} BN batches, ONNX Runtime "
        f"CPU 1 thread, latency model, one shared latency cache", "",
        "## Settings (best reward found after n candidates, mean +- std over seeds)", "",
        "| setting | agent options | " + " | ".join(f"n={n}" for n in checkpoints)
        + " | late - early | within target | min/search |",
        "|---|---|" + "---|" * len(checkpoints) + "---|---|---|"]
    for setting, row in summary.items():
        _, options, extra = context["settings"][setting]
        given = ", ".join([*options, " ".join(extra)] if extra else options) or "defaults"
        lines.append(f"| {setting} | {given} | "
                     + " | ".join(cell(row["best"][n]) for n in checkpoints)
                     + f" | {row['moved'][0]:+.4f} | {row['feasible']:.0%} | "
                     f"{row['minutes']:.1f} |")
    picture = plot(summary, args.out.with_suffix(".png"))
    lines += [
        "", "`late - early`: the mean reward of the last 50 proposals minus the first 50 "
        "(a policy that learns moves its proposals up).", "",
        f"![best reward found against candidates]({picture.name})", "",
        "## The setting each agent keeps", "",
        "The rule, decided before the run: the setting with the highest mean best reward at "
        "the full budget replaces the default only when it beats the default by more than "
        "the larger of the two seeds' spreads.", ""]
    for agent, setting in context["chosen"].items():
        lines.append(f"- `{agent}`: {setting}")
    lines += ["", "## Commands", "", "```sh", *dict.fromkeys(context["commands"]), "```", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(args.out)
