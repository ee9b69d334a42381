"""Batch-norm recalibration: re-estimate BN statistics of a pruned model on a few batches.

Pruning removes channels that later layers' statistics were measured with, so a pruned
model's BN running means and variances are stale; EagleEye (Li et al., 2020) showed that
re-estimating them on a few training batches, without any gradient step, makes the pruned
model's accuracy a good predictor of its accuracy after fine-tuning. That makes it the cheap
accuracy proxy of the search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain, islice

import torch
from torch import nn

from edgeprune.errors import EdgepruneError


def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor], num_batches: int,
                   progress: Callable[[int], None] | None = None) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them on `num_batches`
    batches (images (B, C, H, W), float in [0, 1], or uint8 0..255).

    The estimate is the cumulative average over the batches (momentum None), not an
    exponential one, so every batch counts equally. Only the BN layers run in training mode;
    no parameter changes. The model's modes and BN momenta are restored afterwards. Returns the
    number of batches used; `progress` is called after each with the count so far.
    """
    if num_batches < 1:
        raise EdgepruneError(f"BN recalibration needs at least one batch, got {num_batches}")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:  # checked before the statistics are reset, so the model stays usable
        raise EdgepruneError("BN recalibration got no batches (is the data split empty?)")
    modes = {m: m.training for m in model.modules()}
    momenta = {bn: bn.momentum for bn in norms}
    reference = next(model.parameters())
    used = 0
    try:
        model.eval()
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        with torch.no_grad():
            for batch in islice(chain([first], iterator), num_batches):
                images = batch.to(reference.device)
                images = (images.to(reference.dtype) / 255 if not images.is_floating_point()
                          else images.to(reference.dtype))
                model(images)
                used += 1
                if progress is not None:
                    progress(used)
    finally:
        for module, training in modes.items():
            module.training = training
        for bn, momentum in momenta.items():
            bn.momentum = momentum
    return used
