"""The accuracy proxies that read a trained weight-sharing network: `pruningnet`, `slimmable`.

A candidate's weights are extracted from the weight-sharing network trained once for the base
(edgeprune/supernet), then its batch-norm statistics are re-estimated on the proxy's fixed
batches like every other proxy's. The file is checked against the search's base (its
fingerprint) and its form against the proxy's name when the proxy is made, so a wrong file
fails before the first candidate, with the reason.
"""

from __future__ import annotations

from typing import ClassVar

from edgeprune.errors import EdgepruneError
from edgeprune.models.darknet import DarknetModel
from edgeprune.prune.apply import PrunePlan
from edgeprune.prune.importance import Importance
from edgeprune.prune.spec import PruneSpec
from edgeprune.search.proxy import AccuracyProxy, register_proxy


class WeightSharingProxy(AccuracyProxy):
    form: ClassVar[str]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from edgeprune.supernet.file import load_supernet

        path = self.settings.supernet
        if not path:
            raise EdgepruneError(f"the {self.name} proxy reads a weight-sharing network: give "
                                 f"--supernet FILE (made by `edgeprune supernet train "
                                 f"--form {self.form}`)")
        self.supernet = load_supernet(path)
        if self.supernet.form != self.form:
            raise EdgepruneError(f"{path}: a {self.supernet.form} weight-sharing network; use "
                                 f"--proxy {self.supernet.form}, or train a {self.form} one")
        self.supernet.check_base(self.base, self.base_name, path)
        self.supernet.net.eval()

    def build(self, spec: PruneSpec, importance: Importance,
              layout: PrunePlan | None = None) -> DarknetModel:
        # the weight-sharing network's own channel order, fixed at training, not `importance`
        return self.supernet.net.extract(spec, layout)

    def prepare(self, model: DarknetModel) -> None:
        self.recalibrate(model)

    def node_embeddings(self):
        embeddings = self.supernet.net.node_embeddings()
        return None if embeddings is None else embeddings.numpy()


@register_proxy
class PruningNetProxy(WeightSharingProxy):
    name = "pruningnet"
    form = "pruningnet"


@register_proxy
class SlimmableProxy(WeightSharingProxy):
    name = "slimmable"
    form = "slimmable"
