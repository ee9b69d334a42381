"""The `edgeprune` command: one verb per job, ultralytics-style (`edgeprune VERB --options`)."""

from edgeprune.cli.app import main

__all__ = ["main"]
