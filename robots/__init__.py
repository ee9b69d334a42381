"""The shipped device and robot profiles (YAML), installed as the package edgeprune.robots
(see pyproject.toml) so an installed edgeprune finds them through importlib.resources."""
