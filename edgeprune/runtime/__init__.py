"""What runs on the robot: pre-processing, inference runtimes, decoding and NMS."""
