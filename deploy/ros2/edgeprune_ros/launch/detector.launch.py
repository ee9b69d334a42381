"""Start the edgeprune detector node.

    ros2 launch edgeprune_ros detector.launch.py engine:=final.engine
    ros2 launch edgeprune_ros detector.launch.py model:=final.onnx input_topic:=/camera/image_raw
    ros2 launch edgeprune_ros detector.launch.py params_file:=/opt/edgeprune/models/r.params.yaml

`engine` wins over `model`; with neither, model_path comes from the params file (what
`edgeprune deploy --robot NAME` writes).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    engine = LaunchConfiguration("engine")
    model = LaunchConfiguration("model")
    params_file = LaunchConfiguration("params_file")
    has_engine = PythonExpression(["'", engine, "' != ''"])
    has_model_only = PythonExpression(["'", engine, "' == '' and '", model, "' != ''"])
    from_params = PythonExpression(["'", engine, "' == '' and '", model, "' == ''"])
    common = {"input_topic": LaunchConfiguration("input_topic"),
              "publish_overlay": LaunchConfiguration("publish_overlay")}

    def node(condition, model_path=None):
        overrides = dict(common, **({"model_path": model_path} if model_path else {}))
        return Node(package="edgeprune_ros", executable="detector_node",
                    name="edgeprune_detector", output="screen", condition=IfCondition(condition),
                    parameters=[params_file, overrides])

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
        node(has_engine, engine),
        node(has_model_only, model),
        node(from_params),
    ])
