"""Search agents; importing this package registers the built-in ones (see base.py)."""

from edgeprune.search.agents import baselines  # noqa: F401  registers uniform, random
