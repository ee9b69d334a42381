"""The weight-sharing network trained once per base: search space, graph encoder, network,
file and training."""
