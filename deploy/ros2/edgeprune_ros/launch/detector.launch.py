"""Start the edgeprune detector node.

    ros2 launch edgeprune_ros detector.launch.py engine:=final.engine
    ros2 launch edgeprune_ros detector.launch.py model:=final.onnx input_topic:=/camera/image_raw
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    engine = LaunchConfiguration("engine")
    model = LaunchConfiguration("model")
    params_file = LaunchConfiguration("params_file")
    has_engine = PythonExpression(["'", engine, "' != ''"])
    common = {"input_topic": LaunchConfiguration("input_topic"),
              "publish_overlay": LaunchConfiguration("publish_overlay")}

    def node(model_path, condition):
        return Node(package="edgeprune_ros", executable="detector_node",
                    name="edgeprune_detector", output="screen", condition=condition,
                    parameters=[params_file, {"model_path": model_path, **common}])

    return LaunchDescription([
        DeclareLaunchArgument("engine", default_value="",
                              description="TensorRT engine to run (takes precedence over model)"),
        DeclareLaunchArgument("model", default_value="",
                              description="ONNX file or edgeprune checkpoint to run"),
        DeclareLaunchArgument("input_topic", default_value="/camera/image_raw"),
        DeclareLaunchArgument("publish_overlay", default_value="false"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("edgeprune_ros"), "config",
                                                "detector.params.yaml"])),
        node(engine, IfCondition(has_engine)),
        node(model, UnlessCondition(has_engine)),
    ])
