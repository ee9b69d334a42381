"""Training the weight-sharing network once per base: `train_supernet(config, run_dir)`.

Starts from the base's weights. Every step takes one augmented batch, runs the frozen base
once as teacher, and trains the sandwich of sub-networks (space.py: largest, smallest and
`subnets` random ones) on it: each with the YOLOv3 loss plus distillation from the base's raw
head outputs (train/distill.py), gradients summed into the shared weights (and the encoder of
the `pruningnet` form), AdamW on a warm-up + cosine schedule over the steps.

Everything a step draws is keyed by (seed, step): the batch order of an epoch and the
sub-networks of a step. So a run killed at any point (kill -9 included) resumes from its
last.pt, saved atomically every `save_every` steps, and continues on exactly the same batches
and sub-networks. The run folder: config.yaml, last.pt (with the training state),
supernet.pt (the file a search reads), log.csv (loss per step) and probe.json (mAP of a few
sub-networks after training).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from torch import nn

from edgeprune.atomic import atomic_write_text
from edgeprune.console import escape
from edgeprune.errors import EdgepruneError
from edgeprune.models.checkpoint import load_checkpoint, model_fingerprint
from edgeprune.prune.importance import channel_set_scores
from edgeprune.supernet.file import Supernet, read_supernet_data, save_supernet, supernet_from_data
from edgeprune.supernet.network import FORMS, WeightSharingNet
from edgeprune.supernet.space import SubnetRules, SubnetSampler
from edgeprune.train.config import default_workers, renamed_fields
from edgeprune.train.schedule import Schedule

LAST = "last.pt"
SUPERNET = "supernet.pt"
LOG = "log.csv"
CONFIG = "config.yaml"


@dataclass(frozen=True)
class SupernetConfig:
    weights: str  # the base checkpoint
    data: str  # dataset YAML (train split trains, val split scores the probe)
    form: str = "pruningnet"
    epochs: float = 2.0  # passes over the training split (fractions allowed)
    batch: int = 16
    # AdamW. 3e-4 rather than fine-tuning's 1e-3: on the demo base (2 epochs, pruningnet) its
    # sub-networks scored higher after BN re-estimation at uniform keep 0.75/0.6/0.5
    # (0.591/0.432/0.313 against 0.566/0.352/0.294 at 1e-3)
    lr: float = 3e-4
    weight_decay: float = 5e-4
    subnets: int = 2  # random sub-networks per step, besides the largest and the smallest
    smallest: bool = True  # train the smallest sub-network every step (the sandwich rule)
    distill_weight: float = 1.0
    round_to: int = 8
    min_channels: int = 8
    min_ratio: float = 0.125
    max_drop: float = 0.3
    importance: str = "l1"  # the fixed channel order
    hidden: int = 32  # encoder embedding size (pruningnet)
    imgsz: int | None = None  # None: the base checkpoint's
    seed: int = 0
    workers: int = field(default_factory=default_workers)
    torch_threads: int | None = None
    torch_device: str | None = None
    save_every: int = 25  # steps between last.pt saves
    probe_images: int = 60  # val images the end-of-training probe scores (0: no probe)
    probe_batches: int = 10  # training batches for the probe's BN re-estimation

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise EdgepruneError(f"--form {self.form!r}: expected one of {', '.join(FORMS)}")
        if self.epochs <= 0 or self.batch < 1 or self.subnets < 0 or self.save_every < 1:
            raise EdgepruneError("--epochs must be positive, --batch and --save-every at least "
                                 "1, --subnets at least 0")
        if self.lr <= 0 or self.distill_weight < 0:
            raise EdgepruneError("--lr must be positive and --distill-weight >= 0")
        if self.imgsz is not None and (self.imgsz < 32 or self.imgsz % 32):
            raise EdgepruneError(f"--imgsz {self.imgsz}: must be a multiple of 32")
        self.rules()  # range checks of the space

    def rules(self) -> SubnetRules:
        return SubnetRules(self.round_to, self.min_channels, self.min_ratio, self.max_drop)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class SupernetResult:
    run_dir: Path
    supernet: Path
    steps: int
    seconds: float  # training time over all sessions
    probe: dict[str, float]  # sub-network name -> mAP@0.5 after BN re-estimation
    resumed_at: int = 0


class SupernetTrainer:
    def __init__(self, config: SupernetConfig | None, run_dir: str | Path, *,
                 resume: bool = False, console: Console | None = None,
                 show_progress: bool = True) -> None:
        from edgeprune.data import load_dataset
        from edgeprune.data.augment import AugmentConfig
        from edgeprune.data.batches import TrainingSet
        from edgeprune.train.distill import Distillation
        from edgeprune.train.loss import YoloLoss
        from edgeprune.train.optimizer import parameter_groups, select_device

        self.run_dir = Path(run_dir)
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        state = None
        if resume:
            data = read_supernet_data(self.run_dir / LAST) if (self.run_dir / LAST).is_file() \
                else None
            if data is None or "train_state" not in data:
                raise EdgepruneError(f"{self.run_dir}: nothing to resume (no {LAST} with a "
                                     f"training state)")
            state = data["train_state"]
            config = SupernetConfig(**renamed_fields(state["config"]))
        self.config = config
        base = load_checkpoint(config.weights)
        self.names = list(base.names)
        size = config.imgsz or base.imgsz[0]
        self.imgsz = (size, size)
        self.device = select_device(config.torch_device)
        self.train_data = load_dataset(config.data, "train").require_usable()
        if len(self.train_data.names) != len(self.names):
            raise EdgepruneError(f"{config.weights} detects {len(self.names)} classes; "
                                 f"{config.data} has {len(self.train_data.names)}")
        self.base_fingerprint = model_fingerprint(base.model)
        if state is not None:
            self.supernet = supernet_from_data(data, self.run_dir / LAST)
            if self.supernet.base_fingerprint != self.base_fingerprint:
                raise EdgepruneError(f"{self.run_dir}: {config.weights} changed since this run "
                                     f"started (its weights differ); start a new run")
        else:
            scores = channel_set_scores(base.model, config.importance)
            net = WeightSharingNet(base.model, config.form, config.rules(), scores,
                                   config.hidden)
            self.supernet = Supernet(net, self.names, self.imgsz, self.base_fingerprint,
                                     str(Path(config.weights).resolve()))
        self.net = self.supernet.net.to(self.device)
        self.sampler = SubnetSampler(self.net.space, self.net.rules)
        self.teacher = Distillation(base.model.to(self.device), config.distill_weight)
        self.loss = YoloLoss(base.model, None).to(self.device)
        groups = parameter_groups(self.net.model, config.weight_decay)
        if self.net.encoder is not None:
            groups.append({"params": list(self.net.encoder.parameters()), "name": "encoder",
                           "weight_decay": 0.0})
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.937, 0.999))
        self.training_set = TrainingSet(self.train_data, self.imgsz, AugmentConfig(),
                                        config.seed)
        self.steps_per_epoch = max(len(self.training_set) // config.batch, 1)
        self.total_steps = max(1, round(config.epochs * self.steps_per_epoch))
        self.schedule = Schedule(config.lr, epochs=self.total_steps, iterations_per_epoch=1,
                                 warmup_epochs=0.0,
                                 warmup_min_iterations=max(1, self.total_steps // 20),
                                 warmup_bias_lr=0.0)
        self.step = 0
        self.seconds = 0.0
        self.history: list[dict] = []
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.seconds = float(state["seconds"])
            self.history = list(state["history"])
            if self.step >= self.total_steps:
                raise EdgepruneError(f"{self.run_dir}: already trained all "
                                     f"{self.total_steps} steps; nothing to resume")

    # ------------------------------------------------------------------------ data

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The batches of `epoch`: a permutation keyed by (seed, epoch), full batches only."""
        order = np.random.default_rng([self.config.seed, epoch]).permutation(
            len(self.training_set))
        size = self.config.batch
        return [order[i * size:(i + 1) * size].tolist() for i in range(self.steps_per_epoch)]

    def batches_from(self, step: int):
        """(step, images, targets) from global `step` to the end of training."""
        from edgeprune.data.batches import collate_samples

        while step < self.total_steps:
            epoch, offset = divmod(step, self.steps_per_epoch)
            self.training_set.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(
                self.training_set, batch_sampler=self.epoch_batches(epoch)[offset:],
                num_workers=self.config.workers, collate_fn=collate_samples)
            for images, targets, _ in loader:
                yield step, images, targets
                step += 1
                if step >= self.total_steps:
                    return

    # ------------------------------------------------------------------------ training

    def train_step(self, step: int, images: torch.Tensor, targets: torch.Tensor) -> float:
        self.net.train()
        self.schedule.apply(self.optimizer, step)
        images = images.to(self.device).float() / 255
        taught = self.teacher.teacher_outputs(images)
        rng = np.random.default_rng([self.config.seed, step, 1])
        total = 0.0
        self.optimizer.zero_grad(set_to_none=True)
        specs = self.sampler.step(rng, self.config.subnets, self.config.smallest)
        for spec in specs:
            outputs = self.net.forward_subnet(spec, images)
            loss = self.loss(outputs, targets, self.imgsz).total
            if self.config.distill_weight > 0:
                loss = loss + self.teacher.loss(taught, outputs)
            if not torch.isfinite(loss):
                raise EdgepruneError(f"the loss became {float(loss)} at step {step + 1}; "
                                     f"lower --lr")
            loss.backward()
            total += float(loss.detach())
        nn.utils.clip_grad_norm_(self.net.parameters(), max_norm=10.0)
        self.optimizer.step()
        return total / len(specs)

    def run(self) -> SupernetResult:
        from edgeprune.train.run_files import write_config

        threads = torch.get_num_threads()
        if self.config.torch_threads:
            torch.set_num_threads(self.config.torch_threads)
        try:
            write_config(self.run_dir, self.config.to_dict())
            resumed_at = self.step
            if resumed_at:
                self.console.print(f"resuming {escape(self.run_dir)} at step {resumed_at + 1}/"
                                   f"{self.total_steps}", highlight=False)
            self._train()
            probe = self.probe()
            self.supernet.training = {"steps": self.total_steps, "seconds": self.seconds,
                                      "data": self.config.data, "config": self.config.to_dict(),
                                      "probe_map50": probe}
            path = save_supernet(self.supernet, self.run_dir / SUPERNET)
            atomic_write_text(self.run_dir / "probe.json", json.dumps(probe, indent=2))
            return SupernetResult(self.run_dir, path, self.total_steps, self.seconds, probe,
                                  resumed_at)
        finally:
            torch.set_num_threads(threads)

    def _train(self) -> None:
        from edgeprune.train.progress import progress_bar

        began, done_before = time.perf_counter(), self.seconds
        with progress_bar(self.console, self.show_progress) as bar:
            task = bar.add_task("weight-sharing network", total=self.total_steps,
                                completed=self.step, losses="")
            for step, images, targets in self.batches_from(self.step):
                loss = self.train_step(step, images, targets)
                self.step = step + 1
                self.seconds = done_before + time.perf_counter() - began
                self.history.append({"step": self.step, "loss": loss,
                                     "lr": self.optimizer.param_groups[0]["lr"],
                                     "seconds": self.seconds})
                bar.update(task, completed=self.step, losses=f"loss {loss:.3f}")
                if self.step % self.config.save_every == 0 or self.step == self.total_steps:
                    self.save()
                if self.show_progress and not self.console.is_terminal and \
                        self.step % max(1, self.total_steps // 10) == 0:
                    self.console.print(f"step {self.step}/{self.total_steps}  loss "
                                       f"{loss:.3f}  {self.seconds:.0f}s", highlight=False)

    def save(self) -> None:
        state = {"config": self.config.to_dict(), "step": self.step, "seconds": self.seconds,
                 "optimizer": self.optimizer.state_dict(), "history": self.history}
        save_supernet(self.supernet, self.run_dir / LAST, {"train_state": state})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["step", "loss", "lr", "seconds"])
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()}
                         for row in self.history)
        atomic_write_text(self.run_dir / LOG, buffer.getvalue())

    # ------------------------------------------------------------------------ the probe

    def probe(self) -> dict[str, float]:
        """mAP@0.5 on a val subset of the largest, a middle and the smallest sub-network, each
        after BN re-estimation: a quick look at what the training gave."""
        config = self.config
        if config.probe_images <= 0:
            return {}
        from edgeprune.data import load_dataset
        from edgeprune.data.batches import image_batches
        from edgeprune.eval.evaluate import Evaluator, subset
        from edgeprune.prune.recalibrate import recalibrate_bn
        from edgeprune.runtime.backends import TorchRuntime
        from edgeprune.runtime.detector import Detector

        val = subset(load_dataset(config.data, "val").require_usable(), config.probe_images,
                     config.seed)
        evaluator = Evaluator(val, batch_size=8, cache_images=True)
        batches = list(image_batches(self.train_data, self.imgsz, 8, config.probe_batches,
                                     seed=config.seed))
        uniform = {f"uniform {r:.2f}": self.net.space.normalize(
            self.net.rules.spec(default_ratio=r)) for r in (0.6, math.sqrt(config.min_ratio))}
        specs = {"largest": self.sampler.largest(), **uniform,
                 "smallest": self.sampler.smallest()}
        scores = {}
        with self.console.status("scoring sub-networks of the trained network..."):
            for name, spec in specs.items():
                model = self.net.extract(spec)
                recalibrate_bn(model, batches, len(batches))
                detector = Detector(TorchRuntime(model), imgsz=self.imgsz, names=self.names)
                scores[name] = round(float(evaluator(detector).map50), 4)
        return scores


def train_supernet(config: SupernetConfig | None, run_dir: str | Path,
                   **options) -> SupernetResult:
    """Train per `config` into `run_dir`, or continue it with `resume=True` (config None)."""
    return SupernetTrainer(config, run_dir, **options).run()
