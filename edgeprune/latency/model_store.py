"""Where latency models live: a folder beside the latency cache file, one JSON file a model.

`<cache>-models/` next to `<cache>.sqlite` (the user's default cache: ~/.cache/edgeprune/
latency-models/), so a later search on the same device and base finds the model that earlier
searches built and calibrated, whatever run folder they wrote to. The folder is apart from the
cache file so the measurements and the models can be copied, shared or cleared each on its
own. A model is read whole and written whole (temp file + rename); giving a search's
measurements back merges them with what another search may have written meanwhile, under a
file lock.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from filelock import FileLock

from edgeprune.atomic import atomic_write_text
from edgeprune.errors import EdgepruneError
from edgeprune.latency.latency_model import LatencyModel, ModelKey


class ModelStore:
    def __init__(self, cache_path: str | Path) -> None:
        cache_path = Path(cache_path)
        self.folder = cache_path.with_name(f"{cache_path.stem}-models")

    def path(self, key: ModelKey) -> Path:
        digest = hashlib.sha256(key.store_key().encode()).hexdigest()[:20]
        return self.folder / f"{digest}.json"

    def load(self, key: ModelKey) -> LatencyModel | None:
        """The stored model for exactly `key`, or None."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EdgepruneError(f"{path}: unreadable latency model ({exc}); delete it to "
                                 f"build the model again") from None
        model = LatencyModel.from_json(data, str(path))
        return model if model.key == key else None

    def merge(self, model: LatencyModel) -> LatencyModel:
        """`model`'s whole networks added to the stored model of its key (the stored one's
        units kept, a network measured by both counted once), saved and returned."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(model.key)
        with FileLock(str(path) + ".lock"):
            stored = self.load(model.key)
            if stored is not None:
                known = {point[2] for point in model.points}
                stored.points = [p for p in stored.points if p[2] not in known] + model.points
                stored.refit()
                model = stored
            atomic_write_text(path, json.dumps(model.to_json()))
        return model
