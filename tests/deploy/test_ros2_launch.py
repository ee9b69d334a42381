"""The launch file and the shipped params file against the node's parameter table.

No `launch`/`launch_ros` wheels exist, so the launch file is read as Python source (ast), not
run: what it declares, what it passes to the node, and which node it starts must all match
the package (params.py, setup.py, config/). The shipped params file is run by the node in
test_ros2_node.py.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

PACKAGE = Path(__file__).resolve().parents[2] / "deploy" / "ros2" / "edgeprune_ros"
LAUNCH = PACKAGE / "launch" / "detector.launch.py"
SHIPPED_PARAMS = PACKAGE / "config" / "detector.params.yaml"

sys.path.insert(0, str(PACKAGE))
from edgeprune_ros.params import PARAMETERS  # noqa: E402

sys.path.pop(0)


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == name]


def keyword(call: ast.Call, name: str):
    return next(k.value for k in call.keywords if k.arg == name)


def launch_arguments(tree: ast.AST) -> dict[str, ast.Call]:
    return {call.args[0].value: call for call in calls(tree, "DeclareLaunchArgument")}


def test_launch_file_declares_what_it_uses_and_passes_only_node_parameters():
    tree = ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))
    declared = launch_arguments(tree)
    used = {call.args[0].value for call in calls(tree, "LaunchConfiguration")}
    assert used == set(declared) == {"engine", "model", "params_file", "input_topic",
                                     "publish_overlay"}
    # every parameter override the file builds is one the node declares
    overrides = {key.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
                 for key in node.keys if isinstance(key, ast.Constant)}
    assert overrides == {"input_topic", "publish_overlay", "model_path"}
    assert overrides <= set(PARAMETERS)
    # launch argument defaults a user can leave out are valid values of those parameters
    assert isinstance(PARAMETERS["publish_overlay"], bool)
    assert ast.literal_eval(keyword(declared["publish_overlay"], "default_value")) == "false"
    assert keyword(declared["input_topic"], "default_value").value.startswith("/")
    # it starts the console script setup.py installs, under the name the params files use
    (node,) = {(keyword(c, "package").value, keyword(c, "executable").value,
                keyword(c, "name").value) for c in calls(tree, "Node")}
    setup = ast.parse((PACKAGE / "setup.py").read_text())
    scripts = [e.value.split(" = ")[0] for e in ast.walk(setup)
               if isinstance(e, ast.Constant) and isinstance(e.value, str) and " = " in e.value]
    assert node[0] == "edgeprune_ros" and node[1] in scripts
    shipped = yaml.safe_load(SHIPPED_PARAMS.read_text())
    assert list(shipped) == [node[2]]
    # its default params file is config/detector.params.yaml of the installed package
    default = keyword(declared["params_file"], "default_value")
    parts = [a.value for a in default.args[0].elts if isinstance(a, ast.Constant)]
    assert parts == ["config", "detector.params.yaml"] and SHIPPED_PARAMS.exists()


def test_shipped_params_file_lists_every_parameter_with_its_default():
    (body,) = yaml.safe_load(SHIPPED_PARAMS.read_text()).values()
    assert body["ros__parameters"] == PARAMETERS
