"""A search on a Ray cluster (`edgeprune search --cluster ADDRESS`, docs/search.md "Rounds and
clusters").

    connect.py   joining or starting the cluster; what it offers
    actors.py    AccuracyWorker (the environment's accuracy half, loaded once per worker) and
                 DeviceActor (one per physical device: the latency half)
    executor.py  RayExecutor: a round's jobs onto those actors through search/scheduler.py

The search loop stays the single writer of its run folder: actors return results, the driver
records them and keeps the latency cache. Ray is an optional dependency (`pip install
'edgeprune[dist]'`), imported only here and only when a cluster is asked for.
"""

from edgeprune.search.cluster.connect import ClusterOptions
from edgeprune.search.cluster.executor import RayExecutor

__all__ = ["ClusterOptions", "RayExecutor"]
