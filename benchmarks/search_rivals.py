"""The agents benchmark's rivals and shared base: what a user would train instead of pruning
(yolov3 thinner, yolov3-tiny, the searched architecture from scratch, a YOLOv8 scale), chosen
once the searches are done, and the regime benchmark's base taken as it is."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from search_goals import LATENCY_TOLERANCE
from search_pipeline import Rival
from search_steps import DONE, Work, load_json

# what a regime benchmark's folder lends (benchmarks/regime.py), relative to its root
REGIME_PIECES = ("sim", "base", "runs/supernet/base")


def link_regime(regime: Path, work: Work, label: str) -> None:
    """Use the regime benchmark's data, base and weight-sharing network as they are (links):
    `label` is this run's regime name, which must be the folder's (same sizes)."""
    regime = regime.resolve()
    if regime.name != label:
        raise SystemExit(f"--base-from {regime}: that regime is {regime.name!r}, this run's "
                         f"sizes make {label!r}; give the same sizes (or none)")
    for piece in REGIME_PIECES:
        if not (regime / piece / DONE).is_file():
            raise SystemExit(f"--base-from {regime}: {piece} is not finished there (run its "
                             f"stage `regime` and `search` first)")
        mine = work.root / piece
        if mine.is_symlink() or mine.exists():
            continue
        mine.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(regime / piece, mine, target_is_directory=True)


def best_search(searches: list[dict], target: float) -> str:
    """The target's search whose best has the highest proxy mAP within the target (the
    highest overall when none is within): whose latency and architecture the rivals match."""
    mine = [s for s in searches if s["target"] == target]
    within = [s for s in mine if s["search_info"]["feasible"]] or mine
    return max(within, key=lambda s: s["search_info"]["proxy_map50"])["name"]


def scratch_rivals(work: Work, matched: dict[float, str], epochs: int) -> list[Rival]:
    """Per target (`matched[target]` the search they match): yolov3 and yolov3-tiny at the
    widest width no slower than that search's best, and its architecture itself, each
    `epochs` from scratch."""
    rivals = []
    for target, name in matched.items():
        run = work.runs / "search" / name
        rivals += [Rival(f"{target:g}x-{model}", model, model, target, name, epochs,
                         ["--model", model, "--match", str(run)])
                   for model in ("yolov3", "yolov3-tiny")]
        rivals.append(Rival(f"{target:g}x-searched", f"{name}'s architecture", "searched",
                            target, name, epochs, ["--cfg", str(run / "best.pt")]))
    return rivals


def yolov8_jobs(work: Work, env: Path, base: Path, data: Path, targets: list[float],
                epochs: int, imgsz: int, rounds: int,
                say: Callable[[str], None]) -> list[Callable[[], list[dict]]]:
    """Per target the widest YOLOv8 scale no slower than it (untrained exports timed side by
    side with the base), one training per scale chosen; each job returns a row per target."""
    import ultralytics_rival as rival
    from side_by_side import side_by_side

    from edgeprune.models import load_checkpoint

    folder = work.root / "yolov8"
    names = load_checkpoint(base).names
    python = rival.ensure_env(env, say)
    choice_path = folder / "scales.json"
    timed = load_json(choice_path)
    if timed is None:
        say("YOLOv8 scales exported untrained and timed side by side with the base")
        exports = rival.exported_scales(work, python, folder, imgsz, names)
        latency = side_by_side({"base": base, **exports}, imgsz, rounds)
        timed = {"base_ms": latency["base"]["median_ms"],
                 **{scale: latency[scale] for scale in exports}}
        from search_steps import save_json

        save_json(choice_path, timed)
    chosen: dict[str, list[float]] = {}
    for target in targets:
        scale = rival.widest_within(timed, timed["base_ms"] / target, LATENCY_TOLERANCE)
        chosen.setdefault(scale, []).append(target)

    def job(scale: str, its_targets: list[float]) -> Callable[[], list[dict]]:
        def train() -> list[dict]:
            say(f"YOLOv8{scale} from scratch with ultralytics ({epochs} epochs)")
            info = rival.trained(work, python, folder, scale, data, epochs, imgsz, names)
            return [{"name": f"YOLOv8{scale}", "model": "yolov8", "target": target,
                     "info": info, "weights": info["weights"],
                     "matched_name": f"widest scale within {target:g}x",
                     "train_seconds": info["wall_seconds"], "run": f"{target:g}x-yolov8{scale}"}
                    for target in its_targets]
        return train

    return [job(scale, its_targets) for scale, its_targets in chosen.items()]
