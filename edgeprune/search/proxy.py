"""Accuracy proxies: what turns a freshly pruned model into one worth scoring, cheaply.

A pruned model's batch-norm statistics were measured with channels that are gone, so scoring
it as is would rank candidates by how badly their statistics broke, not by what they can
become. Each proxy repairs the model in place; the environment then scores it (mAP@0.5 on the
fixed validation subset).

- `bn-recal` (default; EagleEye, Li et al. 2020): re-estimate BN statistics on K training
  batches, no weight change. EagleEye showed this ranks candidates like their fine-tuned
  accuracy does, at a few forward passes each.
- `finetune` (as ABCP trains each child briefly): k Adam steps of the YOLOv3 training loss
  (edgeprune.train's) on fixed augmented batches, then the same BN re-estimation.
- `pruningnet` (Graph PruningNet) and `slimmable`: the candidate's weights come from a
  weight-sharing network trained once for the base (`edgeprune supernet train`, ProxySettings
  `supernet`), which gives every sub-network trained weights, then the same BN
  re-estimation. These rank candidates the way fine-tuning does, where a freshly pruned
  network's accuracy mostly says how badly its statistics broke (benchmarks/proxy_fidelity.py).

A proxy also builds the candidate (`build`): `apply_spec` on the base for the first two, the
weight-sharing network's extraction for the others.

Batches are drawn once per search with the search's seed and reused for every candidate, so
candidates are compared on the same images and a resumed search scores them as before.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from edgeprune.data.dataset import DetectionDataset
from edgeprune.errors import EdgepruneError
from edgeprune.models.checkpoint import Checkpoint
from edgeprune.models.darknet import DarknetModel
from edgeprune.prune.apply import PrunePlan
from edgeprune.prune.importance import Importance
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.prune.spec import PruneSpec
from edgeprune.registry import Registry
from edgeprune.search.settings import ProxySettings  # the settings live with the others


class AccuracyProxy(ABC):
    """Repairs a pruned model in place before it is scored."""

    name: ClassVar[str]

    def __init__(self, settings: ProxySettings, train_data: DetectionDataset,
                 imgsz: tuple[int, int], base: Checkpoint, base_name: str = "the base") -> None:
        self.settings = settings
        self.train_data = train_data
        self.imgsz = imgsz
        self.base = base
        self.base_name = base_name
        self._recal: list[torch.Tensor] | None = None

    def build(self, spec: PruneSpec, importance: Importance,
              layout: PrunePlan | None = None) -> DarknetModel:
        """The candidate network of `spec`, in eval mode, before `prepare` (`layout`: the
        spec's architecture plan, when the caller has made it)."""
        from edgeprune.prune.apply import apply_spec

        return apply_spec(self.base.model, spec, importance, layout=layout).eval()

    def node_embeddings(self):
        """Learned per-layer states of the base network (numpy (layers, hidden)), or None."""
        return None

    def recalibration_batches(self) -> list[torch.Tensor]:
        """K letterboxed training batches, kept in memory as uint8 (exact: they are made from
        uint8 images, and `recalibrate_bn` divides by 255 as the loader did)."""
        if self._recal is None:
            from edgeprune.data.batches import image_batches

            self._recal = [
                (batch * 255).round_().to(torch.uint8)
                for batch in image_batches(self.train_data, self.imgsz,
                                           self.settings.batch_size,
                                           self.settings.recal_batches, seed=self.settings.seed)]
        return self._recal

    def recalibrate(self, model: DarknetModel) -> None:
        batches = self.recalibration_batches()
        recalibrate_bn(model, batches, len(batches))

    @abstractmethod
    def prepare(self, model: DarknetModel) -> None:
        """Make `model` (a freshly pruned copy, eval mode) ready to score."""


# weight_sharing.py defines the supernet proxies (pruningnet, slimmable) and registers them.
PROXIES: Registry[type[AccuracyProxy]] = Registry("accuracy proxy",
                                                  builtins="edgeprune.search.weight_sharing")
register_proxy = PROXIES.register


def create_proxy(name: str, settings: ProxySettings, train_data: DetectionDataset,
                 imgsz: tuple[int, int], base: Checkpoint,
                 base_name: str = "the base") -> AccuracyProxy:
    return PROXIES.create(name, settings, train_data, imgsz, base, base_name)


@register_proxy
class BatchNormRecalibration(AccuracyProxy):
    name = "bn-recal"

    def prepare(self, model: DarknetModel) -> None:
        self.recalibrate(model)


@register_proxy
class ShortFinetune(AccuracyProxy):
    name = "finetune"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._train: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def training_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """k augmented (images uint8, targets) batches, drawn once."""
        if self._train is None:
            from edgeprune.data.augment import AugmentConfig
            from edgeprune.data.batches import TrainingSet, make_train_loader

            training_set = TrainingSet(self.train_data, self.imgsz, AugmentConfig(),
                                       self.settings.seed)
            loader = make_train_loader(training_set, self.settings.batch_size,
                                       seed=self.settings.seed)
            batches: list[tuple[torch.Tensor, torch.Tensor]] = []
            epoch = 0
            while len(batches) < self.settings.finetune_steps:
                training_set.set_epoch(epoch)
                loader.generator.manual_seed(self.settings.seed + epoch)
                for images, targets, _ in loader:
                    batches.append((images, targets))
                    if len(batches) == self.settings.finetune_steps:
                        break
                epoch += 1
            self._train = batches
        return self._train

    def prepare(self, model: DarknetModel) -> None:
        from edgeprune.train.loss import YoloLoss

        loss = YoloLoss(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.settings.finetune_lr)
        model.train()
        try:
            for images, targets in self.training_batches():
                images = images.float() / 255
                total = loss(model(images), targets, self.imgsz).total
                if not torch.isfinite(total):
                    raise EdgepruneError("the finetune proxy's loss became "
                                         f"{float(total)}; lower --finetune-lr")
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
                optimizer.step()
        finally:
            model.eval()
        self.recalibrate(model)
