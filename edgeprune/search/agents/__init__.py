"""Search agents; importing this package registers the built-in ones (see base.py)."""
