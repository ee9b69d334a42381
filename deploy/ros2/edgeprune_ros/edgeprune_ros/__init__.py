"""ROS integration of edgeprune: the detector node (ROS 2) and a thin ROS 1 adapter."""
