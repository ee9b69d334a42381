"""Many models timed side by side in one window: ONNX Runtime on the CPU, one thread, the
session options of the search's ort-cpu backend, all sessions interleaved round-robin after
warm-up, so a load change on a shared machine hits every
model alike and the latency columns of a report compare."""

from __future__ import annotations

import statistics
import time
from pathlib import Path


def side_by_side(models: dict[str, Path], imgsz: int, rounds: int,
                 reference: str = "base") -> dict[str, dict]:
    """name -> median and p90 ms, the median of the per-round ratios to `reference`, GFLOPs
    and parameters, for checkpoints `models` (which include `reference`). An .onnx file made
    elsewhere (a rival's export) runs as it is; its GFLOPs and parameters are None."""
    import numpy as np

    from edgeprune.latency.backends.ort import load_session, session_options
    from edgeprune.models import load_checkpoint
    from edgeprune.models.counting import count_gflops, count_params
    from edgeprune.onnxio.serialize import onnx_bytes

    sessions, info = {}, {}
    for name, path in models.items():
        if Path(path).suffix == ".onnx":
            graph, info[name] = Path(path).read_bytes(), {"gflops": None, "params": None}
        else:
            model = load_checkpoint(path).model.eval()
            graph = onnx_bytes(model, (imgsz, imgsz))
            info[name] = {"gflops": count_gflops(model.cfg, (imgsz, imgsz)),
                          "params": count_params(model.cfg)}
        info[name]["times"] = []
        sessions[name] = load_session(graph, session_options(1), ["CPUExecutionProvider"])
    image = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    feeds = {name: {session.get_inputs()[0].name: image} for name, session in sessions.items()}
    for name, session in sessions.items():  # warm-up
        for _ in range(5):
            session.run(None, feeds[name])
    for _ in range(rounds):
        for name, session in sessions.items():
            began = time.perf_counter()
            session.run(None, feeds[name])
            info[name]["times"].append((time.perf_counter() - began) * 1e3)
    base = info[reference]["times"]
    for entry in info.values():
        times = entry.pop("times")
        entry["median_ms"] = statistics.median(times)
        entry["p90_ms"] = sorted(times)[int(0.9 * (len(times) - 1))]
        entry["ratio"] = statistics.median(t / b for t, b in zip(times, base, strict=True))
    return info
