"""Learning-rate schedule: linear warm-up, then cosine decay to `final_lr_fraction` x lr.

Warm-up ramps the learning rate from 0 (biases from `warmup_bias_lr`, which gives the
objectness biases a fast start, as ultralytics does) and the momentum from `warmup_momentum`
over the first iterations; after that the rate follows half a cosine over the remaining epochs.
The schedule is a pure function of the iteration, so a resumed run continues exactly on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Schedule:
    lr: float
    epochs: int
    iterations_per_epoch: int
    warmup_epochs: float = 1.0
    warmup_min_iterations: int = 50
    warmup_bias_lr: float = 0.1
    warmup_momentum: float = 0.8
    momentum: float = 0.937
    final_lr_fraction: float = 0.01

    @property
    def warmup_iterations(self) -> int:
        total = self.epochs * self.iterations_per_epoch
        wanted = max(round(self.warmup_epochs * self.iterations_per_epoch),
                     self.warmup_min_iterations)
        return min(wanted, total // 2)

    def cosine_lr(self, epoch_progress: float) -> float:
        """The learning rate after `epoch_progress` epochs (fractional), ignoring warm-up."""
        fraction = min(max(epoch_progress / max(self.epochs, 1), 0.0), 1.0)
        decay = (1 - math.cos(math.pi * fraction)) / 2
        return self.lr * (1 - (1 - self.final_lr_fraction) * decay)

    def at(self, iteration: int) -> tuple[float, float, float]:
        """(learning rate, bias learning rate, momentum) at global `iteration`."""
        lr = self.cosine_lr(iteration / max(self.iterations_per_epoch, 1))
        warmup = self.warmup_iterations
        if iteration >= warmup or warmup == 0:
            return lr, lr, self.momentum
        ramp = iteration / warmup
        momentum = self.warmup_momentum + (self.momentum - self.warmup_momentum) * ramp
        bias_lr = self.warmup_bias_lr + (lr - self.warmup_bias_lr) * ramp
        return lr * ramp, bias_lr, momentum

    def apply(self, optimizer: torch.optim.Optimizer, iteration: int) -> float:
        """Set the optimizer's groups for `iteration` (group "bias" gets the bias rate)."""
        lr, bias_lr, momentum = self.at(iteration)
        for group in optimizer.param_groups:
            group["lr"] = bias_lr if group.get("name") == "bias" else lr
            if "momentum" in group:
                group["momentum"] = momentum
            elif "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
        return lr
