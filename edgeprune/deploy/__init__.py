"""Deployment: robot profiles and the files that run a robot's detector on it."""

from edgeprune.deploy.files import deployment_files, node_parameters
from edgeprune.deploy.robot import RobotProfile, load_robot

__all__ = ["RobotProfile", "deployment_files", "load_robot", "node_parameters"]
