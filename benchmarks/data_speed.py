"""Speed of the data side on one core: `data synth` per domain, and loading vs decoding.

1. `generate_dataset` with one worker (OpenCV limited to one thread), per domain, reporting
   images per second of wall time and of process CPU time (CPU time is what one core gives
   when other work shares the machine), plus where the time goes: scene + render, the camera
   (real only), encoding, writing.
2. On the generated sim dataset: `load_dataset` (reads image headers only) against decoding
   every image, and `check_dataset` with and without decoding, measured side by side.

    .venv/bin/python benchmarks/data_speed.py --images 300 --out benchmarks/results/data_speed.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from machine_info import commit, machine_line, uptime

from edgeprune.data import load_dataset, read_image
from edgeprune.data.check import check_dataset
from edgeprune.data.synth import generate_dataset
from edgeprune.data.synth.camera import apply_camera, sample_camera
from edgeprune.data.synth.generate import PNG_OPTIONS
from edgeprune.data.synth.render import render_scene
from edgeprune.data.synth.scene import sample_scene


def timed(function, repeat: int = 1) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of the last of `repeat` calls (earlier ones warm caches)."""
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, result


def stages(count: int, size: tuple[int, int]) -> dict[str, float]:
    """Milliseconds of CPU time per image in each step of the real-domain pipeline."""
    totals = dict.fromkeys(("scene + render", "camera (real)", "PNG encode (sim)",
                            "JPEG encode (real)"), 0.0)
    for index in range(count):
        start = time.process_time()
        rendered = render_scene(sample_scene(np.random.default_rng([1, index, 0]), *size))
        after_render = time.process_time()
        rng = np.random.default_rng([1, index, 1])
        effects = sample_camera(rng)
        image = apply_camera(rendered.image, effects, rng)
        after_camera = time.process_time()
        cv2.imencode(".png", rendered.image, PNG_OPTIONS)
        after_png = time.process_time()
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, effects.jpeg_quality])
        after_jpeg = time.process_time()
        totals["scene + render"] += after_render - start
        totals["camera (real)"] += after_camera - after_render
        totals["PNG encode (sim)"] += after_png - after_camera
        totals["JPEG encode (real)"] += after_jpeg - after_png
    return {name: 1000 * seconds / count for name, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data_speed.md"))
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    load_before = uptime()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for domain in ("sim", "real"):
            out = Path(scratch) / domain
            wall, cpu, _ = timed(lambda out=out, domain=domain: generate_dataset(
                out, domain, args.images, seed=0, size=size, workers=1))
            rows.append((domain, wall, cpu))
        breakdown = stages(min(args.images, 100), size)
        data = Path(scratch) / "sim" / "data.yaml"
        load = timed(lambda: (load_dataset(data, "train"), load_dataset(data, "val")), 2)
        samples = load[2][0].samples + load[2][1].samples
        decode = timed(lambda: [read_image(s.image_path) for s in samples], 2)
        check_headers = timed(lambda: check_dataset(data, decode=False, workers=1), 2)
        check_decode = timed(lambda: check_dataset(data, decode=True, workers=1), 2)
    load_after = uptime()
    lines = [
        "# Data side speed: synth on one core, loading vs decoding",
        "",
        f"Command: `.venv/bin/python benchmarks/data_speed.py --images {args.images} "
        f"--size {args.size} --out {args.out}`",
        f"Date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {commit()}",
        f"Machine: {machine_line()}, numpy {np.__version__}, OpenCV {cv2.__version__}",
        f"Load before: `{load_before}`",
        f"Load after: `{load_after}`",
        "",
        "The machine is shared with other developers: wall-clock rates drop with its load, so",
        "images per CPU-second (process time of this single-threaded run) is the one-core",
        "rate. The issue's bar is 50 images/s on one core at 640x480.",
        "",
        f"## `generate_dataset`, {args.images} images at {args.size}, 1 worker, 1 OpenCV "
        f"thread",
        "",
        "| domain | wall s | CPU s | images / wall s | images / CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for domain, wall, cpu in rows:
        lines.append(f"| {domain} | {wall:.2f} | {cpu:.2f} | {args.images / wall:.1f} | "
                     f"{args.images / cpu:.1f} |")
    lines += ["", f"CPU ms per image by step (first {min(args.images, 100)} images; writing "
                  f"files is the rest):", "", "| step | ms |", "|---|---:|"]
    lines += [f"| {name} | {ms:.2f} |" for name, ms in breakdown.items()]
    count = len(samples)
    lines += ["", f"## Loading the {count}-image sim dataset (each timed twice, the second "
                  f"run shown)", "",
              "| operation | wall s | CPU s | ms per image (CPU) |", "|---|---:|---:|---:|"]
    for name, (wall, cpu, _) in (("load_dataset train + val (headers only)", load),
                                 ("read_image every image (full decode)", decode),
                                 ("check_dataset, --headers-only", check_headers),
                                 ("check_dataset, decoding (default)", check_decode)):
        lines.append(f"| {name} | {wall:.3f} | {cpu:.3f} | {1000 * cpu / count:.2f} |")
    lines += ["", f"Loading is {decode[1] / load[1]:.1f}x cheaper than decoding every image "
                  f"(CPU time, same run)."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
