# Everything creates and uses .venv; installs go through constraints.txt (CPU torch 2.13.0).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

VENV_ROS := .venv-ros
ROS_STAMP := $(VENV_ROS)/.installed
# ROS 2 wheels add a .pth that re-runs every Python of their environment with another
# LD_LIBRARY_PATH, so they live in their own environment, never in .venv.
ROS_PACKAGES := ros-rclpy ros-sensor-msgs ros-std-msgs ros-rmw-fastrtps-cpp

.PHONY: demo test test-slow lint bench clean ros-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,dist]'  # dist: Ray (cluster tests)
	touch $(STAMP)

demo: $(STAMP)  ## the whole chain on the embedded default
	$(BIN)/edgeprune demo

$(ROS_STAMP): pyproject.toml constraints.txt deploy/ros2/edgeprune_ros/setup.py
	$(PYTHON) -m venv $(VENV_ROS)
	$(VENV_ROS)/bin/pip install --quiet -c constraints.txt -e . $(ROS_PACKAGES)
	$(VENV_ROS)/bin/pip install --quiet -e deploy/ros2/edgeprune_ros
	touch $(ROS_STAMP)

ros-venv: $(ROS_STAMP)  ## the ROS 2 environment the node and its tests run in

test: $(STAMP) $(ROS_STAMP)  ## lint + the default (fast) test run
	$(BIN)/ruff check .
	$(BIN)/pytest

test-slow: $(STAMP)  ## the tests marked slow
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(VENV_ROS) .pytest_cache .ruff_cache *.egg-info
