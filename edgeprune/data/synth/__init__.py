"""A generated RoboMaster-like dataset: arena, robots, armor plates; `sim` and `real` domains.

Classes (in this order): red_armor, red_robot, blue_robot, dead_robot, blue_armor.
"""

from edgeprune.data.synth.generate import (
    DOMAINS,
    SynthResult,
    default_workers,
    generate_dataset,
    render_sample,
)
from edgeprune.data.synth.render import CLASSES

__all__ = ["CLASSES", "DOMAINS", "SynthResult", "default_workers", "generate_dataset",
           "render_sample"]
