"""RL pruning search with measured latency in the reward (DESIGN.md, "Search")."""
