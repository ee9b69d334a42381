"""Benchmark: how well each accuracy proxy ranks pruning candidates the way fine-tuning does.

Decided before running (issue 12): on the demo's base (yolov3 width 0.25, 320 px, trained on
generated sim data; the demo's cache is reused), a pool of candidates spread over 1.5x-3x
measured speedups on this CPU (uniform ratios, the `random` agent's proposals, and the
candidates of short `abcp` and `gcn` searches aiming at 2x), each

- fine-tuned the same way as the ground truth: pruned from the base (l1), BN re-estimated,
  `--finetune-epochs` epochs with distillation from the base, seed 0; mAP@0.5 on the whole
  sim val split;
- scored by every proxy, with the demo's search settings (BN re-estimation on 10 batches of
  8 training images, mAP@0.5 on a fixed 60-image val subset): `none` (the pruned base as
  is), `bn-recal`, `finetune` (20 steps, then BN re-estimation), `pruningnet` and
  `slimmable` (weights from the weight-sharing network of each form, trained once).

Reported: Kendall tau-b and Spearman rho against the ground truth, over all candidates and
inside a +-10% latency band around the 2x target; top-5 overlap; seconds per candidate; the
one-time cost of training each weight-sharing network. Latency is timed interleaved with the
base (the ratio), so load on this shared machine does not move candidates in or out of range.

`--start pruningnet` (or slimmable) makes a second ground truth, in its own folder: each
fine-tuning starts from the weight-sharing network's extracted weights, as the search's best
does with --supernet, instead of the base's pruned weights that bn-recal scores.

Everything finished is kept in --work (candidates, fine-tunings, proxy scores, the
weight-sharing networks), so an interrupted run continues where it stopped.

    .venv/bin/python benchmarks/proxy_fidelity.py   # -> benchmarks/results/proxy_fidelity.md
    .venv/bin/python benchmarks/proxy_fidelity.py --work /tmp/pf --candidates 8 \\
        --finetune-epochs 1 --supernet-epochs 0.5 --out /tmp/pf.md        # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import commit, machine_line, uptime  # noqa: E402
from proxy_pool import candidate_pool  # noqa: E402
from ranking import kendall_tau, spearman_rho, top_overlap  # noqa: E402

PROXIES = ("none", "bn-recal", "finetune", "pruningnet", "slimmable")
FORMS = ("pruningnet", "slimmable")
BAND = 0.10  # latency within +-10% of the 2x target
GOAL_TAU, GOAL_BAND_TAU, GOAL_COST = 0.6, 0.5, 2.0
START_WORDS = {"pruned": "the base's own pruned weights (l1, BN re-estimated)",
               "pruningnet": "the pruningnet weight-sharing network's extracted weights (BN "
                             "re-estimated), as the search's best with --supernet",
               "slimmable": "the slimmable weight-sharing network's extracted weights (BN "
                            "re-estimated), as the search's best with --supernet"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench" / "proxy_fidelity")
    parser.add_argument("--cache", type=Path, default=None,
                        help="demo cache with the generated data and the base (default: the "
                        "demo's, ~/.cache/edgeprune/demo)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "proxy_fidelity.md")
    parser.add_argument("--base", type=Path, default=None,
                        help="a trained base checkpoint to measure the proxies on instead of "
                        "the demo's (with --data; e.g. another benchmark's converged base)")
    parser.add_argument("--data", type=Path, default=None,
                        help="with --base: the dataset YAML it was trained on")
    parser.add_argument("--threads", type=int, default=None,
                        help="ONNX Runtime threads the candidates' latency is timed on "
                        "(default: the cpu profile's, one per CPU)")
    parser.add_argument("--images", type=int, default=1000,
                        help="generated images per domain; with --imgsz, the base's sizes "
                        "(default: those of the recorded run; the demo's are 800 and 256)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--candidates", type=int, default=36)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--supernet-epochs", type=float, default=2.0)
    parser.add_argument("--val-images", type=int, default=60)
    parser.add_argument("--recal-batches", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proxies", nargs="+", choices=PROXIES, default=list(PROXIES),
                        help="proxies to compare (a weight-sharing form left out is not "
                        "trained)")
    parser.add_argument("--start", choices=("pruned", *FORMS), default="pruned",
                        help="where every ground-truth fine-tuning starts: the base's own "
                        "pruned weights (l1, BN re-estimated), or the named weight-sharing "
                        "network's extracted weights, as the search's best does with "
                        "--supernet (its own folder in --work)")
    args = parser.parse_args()
    args.forms = [p for p in FORMS if p in args.proxies or p == args.start]
    if (args.base is None) != (args.data is None):
        parser.error("--base and --data go together")
    return args


def finetuned_folder(args) -> Path:
    return args.work / ("finetuned" if args.start == "pruned" else f"finetuned-from-{args.start}")


def load_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def save_json(path: Path, data) -> None:
    from edgeprune.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2))


# ------------------------------------------------------------------------------ the pieces

def demo_base(args, console):
    from edgeprune.demo.settings import DEFAULT_CACHE, DemoSettings
    from edgeprune.demo.steps import make_data, train_base

    if args.base is not None:  # a base trained elsewhere: the demo's batch, its own data
        from types import SimpleNamespace

        return (DemoSettings(seed=args.seed), SimpleNamespace(sim=args.data.resolve()),
                SimpleNamespace(weights=args.base.resolve()))

    # the default sizes are the demo's when the results were recorded (2026-12-01: width
    # 0.25, 8 epochs, no plateau rule; the demo has since moved on), so that run repeats
    settings = DemoSettings(seed=args.seed, images=args.images, imgsz=args.imgsz, width=0.25,
                            epochs=8, plateau=0)
    cache = args.cache or DEFAULT_CACHE
    data = make_data(settings, cache, args.work, console)
    base = train_base(settings, data, cache, args.work, console)
    return settings, data, base


def weight_sharing(args, settings, data, base, console) -> dict[str, dict]:
    """form -> {"path", "seconds"}: each trained once into --work (resumable)."""
    from edgeprune.supernet.train import SupernetConfig, train_supernet

    made = {}
    for form in args.forms:
        run = args.work / f"supernet-{form}"
        if not (run / "supernet.pt").is_file():
            resume = (run / "last.pt").is_file()
            config = None if resume else SupernetConfig(
                weights=str(base.weights), data=str(data.sim), form=form,
                epochs=args.supernet_epochs, batch=settings.batch, seed=args.seed,
                probe_images=args.val_images, probe_batches=args.recal_batches)
            train_supernet(config, run, resume=resume, console=console)
        from edgeprune.supernet.file import load_supernet

        made[form] = {"path": str(run / "supernet.pt"),
                      "seconds": load_supernet(run / "supernet.pt").training["seconds"]}
    return made


def ground_truth(args, candidate: dict, base, data, console, starter=None) -> float:
    """mAP@0.5 on the whole sim val split after the same fine-tuning for every candidate;
    `starter` (a SearchEnvironment with a weight-sharing proxy) gives the starting weights
    when --start names a weight-sharing network."""
    from edgeprune.data.batches import image_batches
    from edgeprune.models import load_checkpoint, save_checkpoint
    from edgeprune.models.checkpoint import Checkpoint
    from edgeprune.prune import PruneSpec, prune_checkpoint
    from edgeprune.prune.recalibrate import recalibrate_bn
    from edgeprune.train.finetune import finetune, finetune_config

    folder = finetuned_folder(args) / candidate["spec_hash"][:16]
    done = load_json(folder / "result.json")
    if done is not None:
        # results before this field was written were all 1-epoch fine-tunings
        if done.get("epochs", 1) != args.finetune_epochs:
            raise SystemExit(f"{folder} was fine-tuned for {done.get('epochs', 1)} epoch(s), "
                             f"not {args.finetune_epochs}: pass that --finetune-epochs or "
                             "use another --work")
        return done["map50"]
    spec = PruneSpec.from_dict(candidate["spec"])
    base_ckpt = load_checkpoint(base.weights)
    if starter is None:
        pruned = prune_checkpoint(base_ckpt, spec, "l1", base=str(base.weights))
        batches = image_batches(data.sim, base_ckpt.imgsz, 8, args.recal_batches,
                                seed=args.seed)
        recalibrate_bn(pruned.model, batches, args.recal_batches)
    else:  # extracted and BN re-estimated exactly as the proxy scores it
        pruned = Checkpoint(starter.pruned_model(spec), list(base_ckpt.names), base_ckpt.imgsz,
                            {"pruned_from": {"base": str(base.weights)},
                             "spec": spec.to_dict(), "weight_sharing": args.start})
    save_checkpoint(pruned, folder / "pruned.pt")
    config = finetune_config(folder / "pruned.pt", str(data.sim), args.finetune_epochs,
                             seed=args.seed, batch=16)
    began = time.perf_counter()
    result = finetune(config, folder / "run", base.weights, 1.0, console=console,
                      show_progress=False)
    map50 = float(result.after.map50)
    save_json(folder / "result.json", {"map50": map50, "seconds": time.perf_counter() - began,
                                       "epochs": args.finetune_epochs, "start": args.start,
                                       "spec_hash": candidate["spec_hash"]})
    return map50


def proxy_environment(args, proxy: str, base_ckpt, base, data, supernets, meter):
    """The search's environment with one proxy, set as the benchmark's searches set it."""
    from edgeprune.data import load_dataset
    from edgeprune.search.environment import SearchEnvironment
    from edgeprune.search.proxy import ProxySettings

    settings = ProxySettings(recal_batches=args.recal_batches, batch_size=8,
                             supernet=supernets[proxy]["path"] if proxy in FORMS else None,
                             seed=args.seed)
    return SearchEnvironment(base_ckpt, meter, load_dataset(data.sim, "train"),
                             load_dataset(data.sim, "val"), imgsz=base_ckpt.imgsz,
                             proxy="bn-recal" if proxy == "none" else proxy,
                             proxy_settings=settings, val_images=args.val_images,
                             seed=args.seed, base_name=str(base.weights))


def proxy_scores(args, proxy: str, candidates: list[dict], base, data, supernets,
                 meter) -> dict[str, dict]:
    """spec hash -> {"accuracy", "seconds"} for every candidate under `proxy`."""
    from edgeprune.models import load_checkpoint
    from edgeprune.prune import PruneSpec, apply_spec

    path = args.work / "proxies" / f"{proxy}.json"
    scores = load_json(path) or {}
    missing = [c for c in candidates if c["spec_hash"] not in scores]
    if not missing:
        return scores
    base_ckpt = load_checkpoint(base.weights)
    env = proxy_environment(args, proxy, base_ckpt, base, data, supernets, meter)
    env.score(base_ckpt.model)  # decodes the val subset once, before any candidate is timed
    for candidate in missing:
        spec = PruneSpec.from_dict(candidate["spec"])
        began = time.perf_counter()
        model = (apply_spec(base_ckpt.model, spec, "l1").eval() if proxy == "none"
                 else env.pruned_model(spec))
        accuracy = env.score(model)
        scores[candidate["spec_hash"]] = {"accuracy": accuracy,
                                          "seconds": time.perf_counter() - began}
        save_json(path, scores)
    return scores


# ------------------------------------------------------------------------------ report

def statistics(candidates, truth, scores, target_ratio) -> dict:
    hashes = [c["spec_hash"] for c in candidates]
    band = [h for c, h in zip(candidates, hashes, strict=True)
            if abs(c["ratio"] / target_ratio - 1) <= BAND]
    rows = {}
    for proxy, by_hash in scores.items():
        values = [by_hash[h]["accuracy"] for h in hashes]
        truths = [truth[h] for h in hashes]
        rows[proxy] = {
            "tau": kendall_tau(values, truths), "rho": spearman_rho(values, truths),
            "band_tau": kendall_tau([by_hash[h]["accuracy"] for h in band],
                                    [truth[h] for h in band]),
            "band_rho": spearman_rho([by_hash[h]["accuracy"] for h in band],
                                     [truth[h] for h in band]),
            "top5": top_overlap(values, truths, 5),
            "seconds": sum(by_hash[h]["seconds"] for h in hashes) / len(hashes)}
    return {"rows": rows, "band_size": len(band)}


def plot(candidates, truth, scores, path: Path) -> Path:
    from edgeprune.plotting import pyplot, save_figure

    plt = pyplot()
    # squeeze=False: one proxy still gives a list of axes
    figure, grid = plt.subplots(1, len(scores), figsize=(3.2 * len(scores), 3.2), sharey=True,
                                squeeze=False)
    axes = list(grid[0])
    hashes = [c["spec_hash"] for c in candidates]
    speedups = [1 / c["ratio"] for c in candidates]
    for axis, (proxy, by_hash) in zip(axes, scores.items(), strict=True):
        points = axis.scatter([by_hash[h]["accuracy"] for h in hashes],
                              [truth[h] for h in hashes], c=speedups, cmap="viridis", s=14)
        axis.set_title(proxy, fontsize=9)
        axis.set_xlabel("proxy mAP@0.5", fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("fine-tuned mAP@0.5", fontsize=8)
    figure.colorbar(points, ax=axes, label="measured speedup")
    return save_figure(figure, path)


def start_comparison(args, pairs: list[tuple[float, float, float]]) -> list[str]:
    """Both ground truths side by side: does starting from the weight-sharing network's
    weights end better than starting from the base's pruned weights? (speedup, from the
    pruned base, from the weight-sharing network) per candidate fine-tuned both ways."""
    if not pairs:
        return []
    import numpy as np

    pruned = np.array([p for _, p, _ in pairs])
    shared = np.array([w for _, _, w in pairs])
    band = [i for i, (speedup, _, _) in enumerate(pairs) if abs(2 / speedup - 1) <= BAND]
    lines = ["## Where the fine-tuning starts", "",
             f"The same {len(pairs)} candidates fine-tuned the same way from both starting "
             f"points (mAP@0.5, whole sim val split):", "",
             f"| candidates | from the base's pruned weights | from {args.start} | "
             f"{args.start} - pruned (mean +- std) | {args.start} better |",
             "|---|---:|---:|---:|---:|"]
    for label, index in (("all", list(range(len(pairs)))), ("2x band", band)):
        if not index:
            continue
        difference = shared[index] - pruned[index]
        lines.append(f"| {label} ({len(index)}) | {pruned[index].mean():.4f} | "
                     f"{shared[index].mean():.4f} | {difference.mean():+.4f} +- "
                     f"{difference.std():.4f} | {int((difference > 0).sum())}/{len(index)} |")
    lines.append("")
    return lines


def write_report(args, context: dict, stats: dict, plot_path: Path, command: str) -> None:
    rows = stats["rows"]
    # the cost is relative to bn-recal, which a run with --proxies pruningnet leaves out
    bn_cost = rows.get("bn-recal", {}).get("seconds")

    def cost(seconds: float) -> str:
        return f"{seconds / bn_cost:.2f}x" if bn_cost else "-"

    lines = [
        "# Accuracy proxy fidelity", "",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}  ",
        f"Commit: {commit()}; {dt.datetime.now().isoformat(timespec='seconds')}  ",
        f"Load: before `{context['load_before']}`, after `{uptime()}`", "",
        "## Sizes", "",
        (f"- base: `{context['base']}` (given with --base), data `{args.data}`"
         if args.base is not None else
         f"- base: yolov3 width 0.25, {args.imgsz} px, {args.images} images per domain, the "
         f"demo's (`{context['base']}`), {context['base_minutes']:.1f} min of training"),
        f"- {len(context['candidates'])} candidates with measured speedups "
        f"{context['speedup_range'][0]:.2f}x-{context['speedup_range'][1]:.2f}x "
        f"(sources: {context['sources']}); {stats['band_size']} inside the +-10% band around "
        f"2x",
        f"- ground truth: {args.finetune_epochs} epochs of fine-tuning with distillation "
        f"from {START_WORDS.get(args.start, args.start)}, "
        f"mAP@0.5 on the {context['val_images']} sim val images; "
        f"{context['finetune_minutes']:.1f} min of fine-tuning in all",
        f"- proxies: BN re-estimation on {args.recal_batches} batches of 8, mAP@0.5 on a "
        f"fixed {args.val_images}-image val subset; weight-sharing networks "
        f"{args.supernet_epochs:g} epochs each: "
        + ", ".join(f"{form} {info['seconds'] / 60:.1f} min"
                    for form, info in context["supernets"].items()), "",
        "## Rank agreement with the fine-tuned accuracy", "",
        "| proxy | Kendall tau | Spearman | tau in 2x band | Spearman in band | top-5 overlap "
        "| s / candidate | cost vs bn-recal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for proxy, row in rows.items():
        lines.append(f"| {proxy} | {row['tau']:.3f} | {row['rho']:.3f} | {row['band_tau']:.3f} "
                     f"| {row['band_rho']:.3f} | {row['top5']}/5 | {row['seconds']:.2f} | "
                     f"{cost(row['seconds'])} |")
    best = max((p for p in rows if p in FORMS), key=lambda p: rows[p]["tau"])
    row = rows[best]
    lines += ["", f"![proxy vs fine-tuned]({plot_path.name})", ""]
    lines += start_comparison(args, context.get("pairs") or [])
    lines += ["## Goals", "",
              f"- best weight-sharing proxy: `{best}`",
              f"- Kendall tau >= {GOAL_TAU} over all: {row['tau']:.3f}: "
              + ("**met**" if row["tau"] >= GOAL_TAU else "**missed**"),
              f"- Kendall tau >= {GOAL_BAND_TAU} inside the 2x band: {row['band_tau']:.3f}: "
              + ("**met**" if row["band_tau"] >= GOAL_BAND_TAU else "**missed**"),
              f"- cost per candidate <= {GOAL_COST:g}x bn-recal: {cost(row['seconds'])}: "
              + ("**not measured** (bn-recal not among --proxies)" if not bn_cost else
                 "**met**" if row["seconds"] <= GOAL_COST * bn_cost else "**missed**"), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    from rich.console import Console

    from edgeprune.data import load_dataset

    args = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    console = Console(stderr=True)
    args.work.mkdir(parents=True, exist_ok=True)
    load_before = uptime()
    settings, data, base = demo_base(args, console)
    supernets = weight_sharing(args, settings, data, base, console)
    candidates, meter, target_ratio = candidate_pool(args, base, data, console)
    try:
        starter = None
        if args.start != "pruned":
            from edgeprune.models import load_checkpoint

            starter = proxy_environment(args, args.start, load_checkpoint(base.weights), base,
                                        data, supernets, meter)
        truth = {}
        for number, candidate in enumerate(candidates, 1):
            console.print(f"ground truth {number}/{len(candidates)}", highlight=False)
            truth[candidate["spec_hash"]] = ground_truth(args, candidate, base, data, console,
                                                         starter)
        scores = {proxy: proxy_scores(args, proxy, candidates, base, data, supernets, meter)
                  for proxy in args.proxies}
    finally:
        meter.close()
    stats = statistics(candidates, truth, scores, target_ratio)
    plot_path = plot(candidates, truth, scores, args.out.with_suffix(".png"))
    finetuned = [load_json(finetuned_folder(args) / c["spec_hash"][:16] / "result.json")
                 for c in candidates]
    pairs = []
    if args.start != "pruned":  # the first ground truth too, where it was made
        for candidate in candidates:
            first = load_json(args.work / "finetuned" / candidate["spec_hash"][:16]
                              / "result.json")
            if first is not None and first.get("epochs", 1) == args.finetune_epochs:
                pairs.append((1 / candidate["ratio"], first["map50"],
                              truth[candidate["spec_hash"]]))
    base_meta = load_json(base.weights.parent / "base.json") or {}
    context = {"load_before": load_before, "base": base.weights,
               "base_minutes": base_meta.get("seconds", 0.0) / 60, "candidates": candidates,
               "speedup_range": (min(1 / c["ratio"] for c in candidates),
                                 max(1 / c["ratio"] for c in candidates)),
               "sources": ", ".join(f"{s} {sum(c['source'] == s for c in candidates)}"
                                    for s in dict.fromkeys(c["source"] for c in candidates)),
               "val_images": len(load_dataset(data.sim, "val")), "supernets": supernets,
               "finetune_minutes": sum(f["seconds"] for f in finetuned) / 60, "pairs": pairs}
    summary = "summary.json" if args.start == "pruned" else f"summary-from-{args.start}.json"
    save_json(args.work / summary, {"stats": stats, "truth": truth, "scores": scores,
                                            "candidates": candidates})
    write_report(args, context, stats, plot_path, command)


if __name__ == "__main__":
    main()
