"""Search agents; importing this package registers the built-in ones (see base.py)."""

from edgeprune.search.agents import abcp, flops, gcn, purl, rlpruner  # noqa: F401  (registers)
