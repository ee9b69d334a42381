"""Exponential moving average of the model's weights, the weights that get evaluated and saved.

Averaging over the last few hundred steps smooths out SGD noise; the decay ramps up from 0 so
early on the average follows the fast-changing model instead of remembering the random start
(decay = d x (1 - exp(-updates / tau)), as ultralytics does).
"""

from __future__ import annotations

import copy
import math

import torch

from edgeprune.models.darknet import DarknetModel


class ModelEMA:
    def __init__(self, model: DarknetModel, decay: float = 0.9999, tau: float = 2000.0,
                 updates: int = 0) -> None:
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.tau = tau
        self.updates = updates

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: DarknetModel) -> None:
        self.updates += 1
        decay = self.current_decay()
        source = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(source[name].detach(), alpha=1 - decay)
            else:  # BN's num_batches_tracked
                value.copy_(source[name])
