"""Deployment: the files that run a robot's detector on it. Robot profiles themselves are read
by edgeprune.latency.profiles (a robot profile also names a latency target)."""

from edgeprune.deploy.files import deployment_files, node_parameters
from edgeprune.latency.profiles.robot import RobotProfile, load_robot

__all__ = ["RobotProfile", "deployment_files", "load_robot", "node_parameters"]
