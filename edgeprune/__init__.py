"""edgeprune: latency-aware structured pruning of YOLOv3-family detectors for mobile robots."""

__version__ = "0.1.0"
