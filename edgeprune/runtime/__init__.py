"""What runs on the robot: pre-processing, inference backends, decoding and NMS."""
