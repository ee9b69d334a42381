"""The weight-sharing network: one set of weights from which any sub-network of the space runs.

Every sub-network reads its weights out of the base's tensors: the channels a spec keeps in a
coupled set are the most important ones by an order fixed once from the base (so a set kept at
16 channels uses the first 16 of the 24 it keeps at a larger size: the sub-networks nest, and
training one trains the same weights the others use), residual blocks it drops are skipped,
exactly as `apply_spec` builds the standalone network. Two forms:

- `slimmable`: the shared tensors alone (AutoSlim / BigNAS-style weight sharing);
- `pruningnet` (Graph PruningNet): the same, with each batch norm's scale and shift modulated
  by an encoder that reads the sub-network's graph (encoder.py).

`forward_subnet` runs a sub-network with gradients flowing into the shared tensors (for
training); `extract` returns the standalone `DarknetModel` of a spec, the same kind of model
`apply_spec` returns, with the trained weights.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

from edgeprune.latency.archhash import cfg_arch_hash
from edgeprune.models.cfg import ConvLayer, YoloLayer
from edgeprune.models.darknet import DarknetModel
from edgeprune.prune.apply import PrunePlan, plan_pruning
from edgeprune.prune.space import prune_space
from edgeprune.prune.spec import PruneSpec
from edgeprune.supernet.encoder import ArchEncoder
from edgeprune.supernet.space import SubnetRules, SupernetError, check_in_space

Form = Literal["pruningnet", "slimmable"]
FORMS: tuple[str, ...] = ("pruningnet", "slimmable")
SKELETONS = 32  # module skeletons kept per architecture (building one costs ~ms)


class WeightSharingNet(nn.Module):
    def __init__(self, base: DarknetModel, form: Form, rules: SubnetRules,
                 scores: dict[int, torch.Tensor], hidden: int = 32) -> None:
        super().__init__()
        if form not in FORMS:
            raise SupernetError(f"unknown weight-sharing form {form!r} (forms: "
                                f"{', '.join(FORMS)})")
        self.form = form
        self.rules = rules
        self.model = copy.deepcopy(base).train()  # the shared tensors
        self.space = prune_space(base.cfg)
        self.scores = {int(k): v.float().cpu() for k, v in scores.items()}
        self.encoder = ArchEncoder(self.space, hidden) if form == "pruningnet" else None
        self._skeletons: OrderedDict[str, DarknetModel] = OrderedDict()

    @property
    def cfg(self):
        return self.model.cfg

    def plan(self, spec: PruneSpec, layout: PrunePlan | None = None) -> PrunePlan:
        """The plan of `spec`, checked against the space the network covers (`layout`: its
        plan without scores, reused when the caller has one)."""
        check_in_space(self.space, self.rules, spec)
        return plan_pruning(self.model.cfg, spec, self.scores, self.space, layout=layout)

    # ------------------------------------------------------------------------ the sub-network

    def modulation(self, plan: PrunePlan) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        return self.encoder(plan) if self.encoder is not None else {}

    def subnet_tensors(self, plan: PrunePlan, fresh_statistics: bool = False
                       ) -> dict[str, torch.Tensor]:
        """Parameters and buffers of the sub-network of `plan`, keyed as its own
        `DarknetModel` names them; differentiable slices of the shared tensors.

        `fresh_statistics`: batch-norm running statistics as new tensors (training mode
        updates them in place, and must not touch the shared ones)."""
        modulation = self.modulation(plan)
        tensors: dict[str, torch.Tensor] = {}
        device = next(self.model.parameters()).device
        for index, layer in enumerate(plan.base.layers):
            target = plan.new_index[index]
            if target is None:
                continue
            unit = self.model.layers[index]
            prefix = f"layers.{target}"
            if isinstance(layer, YoloLayer):
                tensors[f"{prefix}.anchors"] = unit.anchors
            if not isinstance(layer, ConvLayer):
                continue
            out = torch.tensor(plan.kept[index], dtype=torch.long, device=device)
            weight = unit.conv.weight.index_select(0, out)
            if layer.groups == 1:  # grouped convs keep all channels (channel_coupling)
                inputs = torch.tensor(plan.input_kept(index), dtype=torch.long, device=device)
                weight = weight.index_select(1, inputs)
            tensors[f"{prefix}.conv.weight"] = weight
            if unit.conv.bias is not None:
                tensors[f"{prefix}.conv.bias"] = unit.conv.bias.index_select(0, out)
            if unit.bn is None:
                continue
            gamma, beta = unit.bn.weight, unit.bn.bias
            if index in modulation:
                scale, shift = modulation[index]
                gamma, beta = gamma * (1 + scale), beta + shift
            tensors[f"{prefix}.bn.weight"] = gamma.index_select(0, out)
            tensors[f"{prefix}.bn.bias"] = beta.index_select(0, out)
            mean, var = (unit.bn.running_mean.index_select(0, out),
                         unit.bn.running_var.index_select(0, out))
            tracked = unit.bn.num_batches_tracked
            tensors[f"{prefix}.bn.running_mean"] = mean
            tensors[f"{prefix}.bn.running_var"] = var
            tensors[f"{prefix}.bn.num_batches_tracked"] = (torch.zeros_like(tracked)
                                                           if fresh_statistics
                                                           else tracked.clone())
        return tensors

    def skeleton(self, plan: PrunePlan) -> DarknetModel:
        """A module of the sub-network's architecture without storage of its own (meta
        device): `functional_call` runs it on the shared tensors."""
        key = cfg_arch_hash(plan.cfg)
        if key in self._skeletons:
            self._skeletons.move_to_end(key)
            return self._skeletons[key]
        with torch.device("meta"):
            module = DarknetModel(plan.cfg)
        self._skeletons[key] = module
        while len(self._skeletons) > SKELETONS:
            self._skeletons.popitem(last=False)
        return module

    def forward_subnet(self, spec: PruneSpec | PrunePlan, images: torch.Tensor
                       ) -> list[torch.Tensor]:
        """Raw per-head outputs of the sub-network in training mode (batch statistics), with
        gradients into the shared tensors and the encoder."""
        plan = spec if isinstance(spec, PrunePlan) else self.plan(spec)
        module = self.skeleton(plan).train()
        return functional_call(module, self.subnet_tensors(plan, fresh_statistics=True),
                               (images,))

    def extract(self, spec: PruneSpec, layout: PrunePlan | None = None) -> DarknetModel:
        """The standalone network of `spec` with the trained weights, in eval mode. Its batch
        norm statistics are the base's slices: re-estimate them (prune/recalibrate.py) before
        scoring, as for any pruned network."""
        plan = self.plan(spec, layout)
        reference = next(self.model.parameters())
        model = DarknetModel(plan.cfg).to(device=reference.device, dtype=reference.dtype)
        with torch.no_grad():
            tensors = self.subnet_tensors(plan)
            state = {k: v for k, v in tensors.items() if k in model.state_dict()}
            model.load_state_dict(state, strict=True)
        return model.eval()

    def node_embeddings(self) -> torch.Tensor | None:
        """(layers, hidden) embeddings of the whole base network, for the `gcn` agent's node
        states; None for the slimmable form."""
        if self.encoder is None:
            return None
        with torch.no_grad():
            return self.encoder.embeddings(self.plan(self.rules.spec())).detach().cpu()
