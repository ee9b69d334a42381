"""Search agents; importing this package registers the built-in ones (see base.py)."""

from edgeprune.search.agents import (  # noqa: F401  (registers them)
    abcp,
    baselines,
    evolution,
    flops,
    gcn,
    halp,
    purl,
    rlpruner,
)
