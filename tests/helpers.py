"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import torch

from edgeprune.models.darknet import ConvUnit, DarknetModel, YoloDecode


def randomize_weights(model: DarknetModel, seed: int = 0, head_gain: float = 3.0,
                      imgsz: tuple[int, int] = (96, 96)) -> DarknetModel:
    """Give a fresh model trained-looking statistics and decisive heads.

    Random conv weights and BN affine parameters, then BN statistics estimated on random images
    (as training leaves them: activations stay normalized, so box sizes stay finite), so the BN
    arithmetic is exercised with non-trivial mean and variance. Scaling the heads' objectness
    and class logits spreads scores towards 0 and 1, so detection counts do not hinge on scores
    sitting at a threshold.
    """
    generator = torch.Generator().manual_seed(seed)
    heads = {i - 1: m.num_outputs for i, m in enumerate(model.layers)
             if isinstance(m, YoloDecode)}
    with torch.no_grad():
        for module in model.layers:
            if not isinstance(module, ConvUnit):
                continue
            weight = module.conv.weight
            weight.copy_(torch.randn(weight.shape, generator=generator) / weight[0].numel() ** 0.5)
            if module.bn is not None:
                n = module.bn.num_features
                module.bn.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.bn.bias.copy_(0.2 * torch.randn(n, generator=generator))
                module.bn.reset_running_stats()
                module.bn.momentum = None  # cumulative average over the batches below
            else:
                module.conv.bias.copy_(0.5 * torch.randn(module.conv.bias.shape,
                                                         generator=generator))
        model.train()
        for _ in range(2):
            model(torch.rand(4, model.input_channels, *imgsz, generator=generator))
        for index, module in enumerate(model.layers):
            if isinstance(module, ConvUnit) and module.bn is not None:
                module.bn.momentum = 0.03
            if index in heads:
                row = torch.arange(module.conv.out_channels) % heads[index]
                for rows, gain in ((row >= 4, head_gain), ((row == 2) | (row == 3), 0.1)):
                    # decisive scores; box sizes near their anchors, as in a trained model
                    module.conv.weight[rows] *= gain
                    module.conv.bias[rows] *= gain
    return model.eval()
