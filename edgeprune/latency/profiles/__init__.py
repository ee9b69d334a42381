"""Device and robot profiles (the YAML files in robots/, shipped as the package
edgeprune.robots): reading their fields with file and line in every error (fields.py), a
device's measuring setup (device.py) and a robot's deployment, which names its device's
profile (robot.py). `--device` takes either kind."""

from edgeprune.latency.profiles.device import (
    PROFILES_ENV,
    DeviceProfile,
    find_profile,
    load_profile,
    profile_from_dict,
    profile_search_path,
    resolve_profile,
    shipped_profiles_dir,
)
from edgeprune.latency.profiles.robot import RobotProfile, find_robot, load_robot, robot_from_dict

__all__ = ["PROFILES_ENV", "DeviceProfile", "RobotProfile", "find_profile", "find_robot",
           "load_profile", "load_robot", "profile_from_dict", "profile_search_path",
           "resolve_profile", "robot_from_dict", "shipped_profiles_dir"]
