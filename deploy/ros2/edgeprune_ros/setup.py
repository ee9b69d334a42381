from glob import glob

from setuptools import setup

PACKAGE = "edgeprune_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml", "README.md"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    description="edgeprune detector node for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "detector_node = edgeprune_ros.detector_node:main",
            "detector_node_ros1 = edgeprune_ros.ros1_node:main",
        ],
    },
)
