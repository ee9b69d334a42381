"""`edgeprune demo`: generated data, a small base, a search, fine-tuning, evaluation."""

from edgeprune.demo.pipeline import DemoResult, DemoSettings, run_demo

__all__ = ["DemoResult", "DemoSettings", "run_demo"]
