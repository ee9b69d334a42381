"""Generated sim/real data and two trained models (base and pruned) for sim2real tests.

The models are trained on `data synth` scenes: armor plates are small and light bars thin, so
noise and blur cost a trained model accuracy, as they do on a robot (the flat coloured shapes
of tests/datagen_helpers.py shrug them off). Built once per test process.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class SynthModels:
    sim: Path  # data.yaml of the sim domain
    real: Path  # the same scenes through the camera model
    base: Path  # yolov3-tiny width 0.25, 128 px, trained briefly on sim
    pruned: Path  # base with 3/4 of every prunable channel set kept, not fine-tuned


_BUILT: dict[str, SynthModels] = {}


@contextlib.contextmanager
def one_torch_thread():
    """Two threads on a 2-core machine shared with other work run several times slower than
    one; results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def synth_models(root: Path) -> SynthModels:
    if "models" not in _BUILT:
        from edgeprune.data.synth.generate import generate_dataset
        from edgeprune.models import Checkpoint, load_checkpoint, save_checkpoint
        from edgeprune.prune import PruneSpec, apply_spec
        from edgeprune.train import TrainConfig, train

        with one_torch_thread():
            for domain in ("sim", "real"):
                generate_dataset(root / domain, domain, images=160, seed=0, size=(256, 192),
                                 workers=1)
            config = TrainConfig(data=str(root / "sim" / "data.yaml"), model="yolov3-tiny",
                                 width=0.25, imgsz=128, epochs=15, batch=8, workers=0,
                                 lr=0.005)
            base = train(config, root / "run", show_progress=False).best
            ckpt = load_checkpoint(base)
            pruned = apply_spec(ckpt.model, PruneSpec.uniform(0.75))
            save_checkpoint(Checkpoint(pruned, ckpt.names, ckpt.imgsz, {"spec": "uniform 0.75"}),
                            root / "pruned.pt")
        _BUILT["models"] = SynthModels(root / "sim" / "data.yaml", root / "real" / "data.yaml",
                                       base, root / "pruned.pt")
    return _BUILT["models"]
