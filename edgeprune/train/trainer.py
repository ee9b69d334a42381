"""The training loop: `train(config, run_dir)`, reusable by fine-tuning and distillation.

Each epoch: augmented batches from the DataLoader, the YOLOv3 loss (plus an optional extra
term, e.g. distillation from a teacher's outputs on the same images), SGD or Adam stepped on the
warm-up + cosine schedule, AMP on CUDA, an EMA of the weights; then the EMA model is evaluated
on the validation split with the same Detector and evaluator as `edgeprune val`, and last.pt /
best.pt are written atomically. A run killed at any point resumes from its last.pt.

Under torchrun the same loop runs in every process with DistributedDataParallel; rank 0 alone
validates and writes (distributed.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from torch import nn

from edgeprune.console import escape
from edgeprune.data.bad_data import refuse_bad_data, report_skipped
from edgeprune.data.batches import TrainingSet, make_train_loader
from edgeprune.data.dataset import DetectionDataset
from edgeprune.errors import EdgepruneError
from edgeprune.eval.evaluate import EvalResult, Evaluator, subset
from edgeprune.models.checkpoint import Checkpoint, load_checkpoint
from edgeprune.models.darknet import DarknetModel
from edgeprune.runtime.backends import TorchRuntime
from edgeprune.runtime.detector import Detector
from edgeprune.train import distributed
from edgeprune.train.config import TrainConfig
from edgeprune.train.ema import ModelEMA
from edgeprune.train.loss import YoloLoss
from edgeprune.train.optimizer import make_optimizer, select_device, warm_up_batch_norm
from edgeprune.train.plateau import read_verdict, write_verdict
from edgeprune.train.progress import progress_bar
from edgeprune.train.run_files import (
    BEST,
    LAST,
    EpochStats,
    TrainState,
    load_run_state,
    read_results,
    save_run_checkpoint,
    write_config,
    write_results,
)
from edgeprune.train.schedule import Schedule
from edgeprune.train.start import initialize_head_biases, start_model

# extra_loss(images (B, 3, H, W) in [0, 1], raw head outputs, targets (M, 6)) -> scalar
ExtraLoss = Callable[[torch.Tensor, list[torch.Tensor], torch.Tensor], torch.Tensor]
CACHED_VAL_IMAGES = 1000  # decoded validation images kept in memory between epochs


@dataclass
class TrainResult:
    run_dir: Path
    last: Path
    best: Path
    history: list[EpochStats]
    best_epoch: int
    seconds: float
    names: list[str]
    description: str = ""
    notes: list[str] = field(default_factory=list)
    final_eval: EvalResult | None = None  # best.pt on the validation data, per class
    stop_reason: str | None = None  # why it stopped before --epochs (the plateau rule)

    @property
    def best_stats(self) -> EpochStats | None:
        return next((s for s in self.history if s.epoch == self.best_epoch), None)


class Trainer:
    """One training run. Build it, then `run()`; `train_epoch` and `validate` are the pieces
    fine-tuning reuses."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, *,
                 train_data: DetectionDataset | None = None,
                 val_data: DetectionDataset | None = None,
                 start: Checkpoint | None = None, extra_loss: ExtraLoss | None = None,
                 validate: bool = True, resume: bool = False,
                 console: Console | None = None, show_progress: bool = True,
                 on_epoch_end: Callable[[EpochStats], None] | None = None,
                 provenance: dict | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self.extra_loss = extra_loss
        self.on_epoch_end = on_epoch_end
        self.notes: list[str] = []
        resumed: tuple[Checkpoint, TrainState] | None = None
        if resume:
            resumed = load_run_state(self.run_dir)
            config = TrainConfig.from_dict(resumed[1].config)
        self.config = config.check()
        self.imgsz = (config.imgsz, config.imgsz)
        self.processes = distributed.join(config.torch_device)
        self.is_main = self.processes.is_main
        self.device = distributed.process_device(select_device(config.torch_device), self.processes)
        torch.manual_seed(config.seed)

        self.train_data = self._dataset(train_data, "train")
        self.names = list(self.train_data.names)
        # rank 0 alone validates: the others would only repeat its numbers
        self.val_data = self._dataset(val_data, "val") if validate and self.is_main else None
        # the splits this process loaded, their problems checked and reported together
        self.datasets = [d for d in (self.train_data, self.val_data) if d is not None]
        refuse_bad_data(self.datasets, config.bad_data)
        if self.val_data is not None and config.val_images:
            self.val_data = subset(self.val_data, config.val_images, config.seed)

        if resumed is not None:
            ckpt, state = resumed
            model = DarknetModel(ckpt.model.cfg)
            model.load_state_dict(state.model)
            if model.num_classes != len(self.names):
                raise EdgepruneError(f"{self.run_dir}: the run trains {model.num_classes} "
                                     f"classes but its data now has {len(self.names)}")
            self.description = str(ckpt.provenance.get("model", "resumed model"))
        else:
            started = start_model(len(self.names), config.model, config.width, config.weights,
                                  config.cfg, checkpoint=start, imgsz=self.imgsz)
            model = started.model
            self.description = started.description
            if started.note:
                self.notes.append(started.note)
            if started.transferred is None:
                initialize_head_biases(model, self.imgsz)
            else:
                self.notes.append(f"starting weights: {started.transferred[0]}/"
                                  f"{started.transferred[1]} tensors transferred")
        self.model = model.to(self.device).train()
        self.network = self.model  # what the batches go through: DDP's wrapper under torchrun
        if self.processes.distributed:
            self.network = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                else None)
        self.loss = YoloLoss(self.model, config.loss).to(self.device)
        self.optimizer = make_optimizer(self.model, config)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.ema = ModelEMA(self.model)
        self.corruption = config.batch_corruption()
        self.training_set = TrainingSet(self.train_data, self.imgsz, config.augment,
                                        config.seed)
        self.sampler = None
        if self.processes.distributed:
            self.sampler = torch.utils.data.DistributedSampler(
                self.training_set, self.processes.world_size, self.processes.rank,
                shuffle=True, seed=config.seed)
        self.loader = make_train_loader(
            self.training_set, distributed.batch_per_process(config.batch, self.processes),
            config.workers, seed=config.seed, sampler=self.sampler)
        self.schedule = Schedule(config.lr, config.epochs, len(self.loader),
                                 warmup_epochs=config.warmup_epochs,
                                 final_lr_fraction=config.final_lr_fraction)
        self.evaluator = (Evaluator(self.val_data, batch_size=config.batch,
                                    cache_images=len(self.val_data) <= CACHED_VAL_IMAGES)
                          if self.val_data is not None else None)
        self.start_epoch = 0
        self.best_fitness = float("-inf")
        self.best_epoch = 0
        self.history: list[EpochStats] = []
        self.provenance = {"data": config.data, "model": self.description,
                           "start_weights": config.weights, **(provenance or {})}
        if resumed is not None:
            self._restore(*resumed)

    def _dataset(self, given: DetectionDataset | None, split: str) -> DetectionDataset:
        if given is None:
            if self.config.data is None:
                raise EdgepruneError(f"no {split} data: give a dataset YAML")
            from edgeprune.data import load_dataset

            given = load_dataset(self.config.data, split)
        return given.require_usable()

    def _restore(self, ckpt: Checkpoint, state: TrainState) -> None:
        if state.epoch >= self.config.epochs:
            raise EdgepruneError(f"{self.run_dir}: already trained all {self.config.epochs} "
                                 f"epochs; nothing to resume")
        stopped = read_verdict(self.run_dir)
        if stopped is not None:
            raise EdgepruneError(f"{self.run_dir}: stopped by the plateau rule after epoch "
                                 f"{stopped['stopped_after_epoch']} ({stopped['reason']}); "
                                 f"nothing to resume")
        self.optimizer.load_state_dict(state.optimizer)
        if state.scaler:
            self.scaler.load_state_dict(state.scaler)
        self.ema.model.load_state_dict(ckpt.model.state_dict())
        self.ema.model.to(self.device)
        self.ema.updates = state.ema_updates
        self.start_epoch = state.epoch
        self.best_fitness = state.best_fitness
        self.best_epoch = state.best_epoch
        self.history = [s for s in read_results(self.run_dir) if s.epoch <= state.epoch]
        self.provenance = {**ckpt.provenance, **{k: v for k, v in self.provenance.items()
                                                  if k not in ckpt.provenance}}
        self.notes.append(f"resumed {self.run_dir} after epoch {state.epoch}")

    # ------------------------------------------------------------------------ the loop

    def run(self) -> TrainResult:
        threads = torch.get_num_threads()  # a process-wide setting: put it back afterwards
        if self.config.torch_threads:
            torch.set_num_threads(self.config.torch_threads)
        try:
            return self._run()
        finally:
            torch.set_num_threads(threads)

    def _run(self) -> TrainResult:
        began = time.perf_counter()
        if self.is_main:
            write_config(self.run_dir, self.config.to_dict())
            report_skipped(self.datasets, self.run_dir, self.console)
            for note in self.notes:
                self.console.print(f"[dim]{escape(note)}[/]", highlight=False)
        for epoch in range(self.start_epoch, self.config.epochs):
            stats = self.train_epoch(epoch)
            if self.evaluator is not None:
                val_began = time.perf_counter()
                result = self.validate()
                stats.map50, stats.map50_95 = result.map50, result.map50_95
                stats.val_seconds = time.perf_counter() - val_began
            self.history.append(stats)
            improved = stats.fitness > self.best_fitness
            if improved:
                self.best_fitness, self.best_epoch = stats.fitness, stats.epoch
            if self.is_main:
                self.save(stats, improved)
                self._report(stats, improved)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(stats)
            # rank 0 alone validates: its verdict stops every process together
            stop_reason = distributed.from_main(self._plateau_reason())
            if stop_reason:
                if self.is_main:
                    write_verdict(self.run_dir, self.config.plateau(), stats.epoch,
                                  stop_reason)
                    self.console.print(f"stopping after epoch {stats.epoch}: {stop_reason}",
                                       highlight=False)
                break
        final_eval = None
        if self.evaluator is not None:
            best = load_checkpoint(self.run_dir / BEST).model.to(self.device)
            final_eval = self.validate(best)
        if self.processes.distributed:  # every process leaves once rank 0 has written
            torch.distributed.barrier()
        return TrainResult(self.run_dir, self.run_dir / LAST, self.run_dir / BEST,
                           self.history, self.best_epoch, time.perf_counter() - began,
                           self.names, self.description, self.notes, final_eval,
                           read_verdict(self.run_dir) and read_verdict(self.run_dir)["reason"])

    def _plateau_reason(self) -> str | None:
        """The plateau rule's verdict on the epochs validated so far."""
        rule = self.config.plateau()
        if rule is None:
            return None
        return rule.verdict([s.map50 for s in self.history if s.map50 is not None])

    def train_epoch(self, epoch: int) -> EpochStats:
        """One pass over the training data (`epoch` is 0-based)."""
        self.model.train()
        self.training_set.set_epoch(epoch)
        self.loader.generator.manual_seed(self.config.seed + epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        steps = len(self.loader)
        sums = torch.zeros(4)
        lr = 0.0
        began = time.perf_counter()
        with self._progress() as progress:
            task = progress.add_task(f"epoch {epoch + 1}/{self.config.epochs}", total=steps,
                                     losses="")
            for step, (images, targets, _) in enumerate(self.loader):
                iteration = epoch * steps + step
                lr = self.schedule.apply(self.optimizer, iteration)
                warm_up_batch_norm(self.model, iteration)
                # robust fine-tuning: the student sees corrupted images, the teacher (the
                # extra loss) the clean ones
                seen = None
                if self.corruption is not None:
                    seen = self.corruption.apply(images, self.config.seed, epoch, step)
                    seen = seen.to(self.device, non_blocking=True).float() / 255
                images = images.to(self.device, non_blocking=True).float() / 255
                seen = images if seen is None else seen
                with torch.autocast(self.device.type, dtype=torch.float16,
                                    enabled=self.use_amp):
                    outputs = self.network(seen)
                    parts = self.loss(outputs, targets, self.imgsz)
                    total = parts.total
                    extra = (self.extra_loss(images, outputs, targets)
                             if self.extra_loss is not None else None)
                    if extra is not None:
                        total = total + extra
                # the loss is scaled by the batch (this process's share) and DDP averages
                # gradients over processes: x world size gives one process's gradient at the
                # whole batch
                total = total * self.processes.world_size
                if not torch.isfinite(total):
                    raise EdgepruneError(f"the loss became {float(total)} at epoch {epoch + 1}"
                                         f" step {step + 1}; lower --lr or check the labels")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(total).backward()
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=10.0)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.ema.update(self.model)
                sums += torch.tensor([parts.box, parts.obj, parts.cls,
                                      float(extra.detach()) if extra is not None else 0.0])
                mean = sums / (step + 1)
                shown = f"box {mean[0]:.4f} obj {mean[1]:.4f} cls {mean[2]:.4f}"
                if extra is not None:
                    shown += f" extra {mean[3]:.4f}"
                progress.update(task, advance=1, losses=shown)
        mean = distributed.mean_over_processes(sums / max(steps, 1))
        return EpochStats(epoch + 1, *(float(v) for v in mean), lr=lr,
                          train_seconds=time.perf_counter() - began)

    def validate(self, model: DarknetModel | None = None) -> EvalResult:
        """mAP of `model` (default: the EMA weights) on the validation data."""
        detector = Detector(TorchRuntime(model or self.ema.model), imgsz=self.imgsz,
                            names=self.names)
        with self._progress() as progress:
            task = progress.add_task("validating", total=len(self.evaluator.dataset),
                                     losses="")
            return self.evaluator(detector, on_batch=lambda n: progress.advance(task, n))

    def keep_start_unless_beaten(self, evaluation: EvalResult) -> None:
        """Make the starting model best.pt (epoch 0, scored by `evaluation`) until an epoch
        beats it by the same fitness: fine-tuning then never hands back a model worse than
        the one it was given (a nearly untrainable pruned network went 0.0018 -> 0.0009
        mAP@0.5 in one epoch and was still saved as best.pt)."""
        stats = EpochStats(0, 0.0, 0.0, 0.0, 0.0, lr=0.0, train_seconds=0.0,
                           map50=evaluation.map50, map50_95=evaluation.map50_95)
        self.best_fitness, self.best_epoch = stats.fitness, 0
        if self.is_main:
            save_run_checkpoint(self.run_dir / BEST, self.checkpoint(stats), None)

    def checkpoint(self, stats: EpochStats) -> Checkpoint:
        """The EMA model as a checkpoint, with this run's provenance."""
        provenance = {**self.provenance, "epochs": stats.epoch,
                      "epochs_planned": self.config.epochs, "imgsz": self.config.imgsz,
                      "map50": stats.map50, "map50_95": stats.map50_95}
        return Checkpoint(self.ema.model, self.names, self.imgsz, provenance)

    def save(self, stats: EpochStats, is_best: bool) -> None:
        ckpt = self.checkpoint(stats)
        state = TrainState(config=self.config.to_dict(), epoch=stats.epoch,
                           model={k: v.detach().cpu() for k, v in
                                  self.model.state_dict().items()},
                           optimizer=self.optimizer.state_dict(),
                           ema_updates=self.ema.updates, best_fitness=self.best_fitness,
                           best_epoch=self.best_epoch, scaler=self.scaler.state_dict())
        if is_best:
            save_run_checkpoint(self.run_dir / BEST, ckpt, None)
        save_run_checkpoint(self.run_dir / LAST, ckpt, state)
        write_results(self.run_dir, self.history)

    def _progress(self) -> Progress:
        return progress_bar(self.console, self.show_progress and self.is_main)

    def _report(self, stats: EpochStats, improved: bool) -> None:
        if not self.show_progress:
            return
        line = (f"epoch {stats.epoch}/{self.config.epochs}  box {stats.box:.4f}  "
                f"obj {stats.obj:.4f}  cls {stats.cls:.4f}  lr {stats.lr:.2e}  "
                f"{stats.train_seconds:.0f}s")
        if stats.map50 is not None:
            line += (f"  mAP50 {stats.map50:.3f}  mAP50-95 {stats.map50_95:.3f}"
                     + ("  [green]best[/]" if improved else ""))
        self.console.print(line, highlight=False)


def train(config: TrainConfig | None, run_dir: str | Path, **options) -> TrainResult:
    """Train per `config` into `run_dir` (or resume it with `resume=True`, config=None).

    Options are Trainer's: `train_data`/`val_data` (DetectionDatasets instead of the YAML),
    `start` (starting Checkpoint in memory), `extra_loss`, `validate`, `console`,
    `show_progress`, `on_epoch_end`, `provenance`.
    """
    if config is None and not options.get("resume"):
        raise EdgepruneError("train: a TrainConfig is needed unless resuming")
    return Trainer(config, run_dir, **options).run()
