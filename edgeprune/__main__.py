"""`python -m edgeprune` runs the CLI."""

from edgeprune.cli import main

if __name__ == "__main__":  # not again in a spawned child process (edgeprune/demo/parallel.py)
    main()
