"""Entry point of the frozen app: the same CLI as the ``cnnlab`` command (no arguments opens the lab)."""

import multiprocessing
import sys

if __name__ == "__main__":
    # Data-parallel training's worker processes are this same executable, started with the spawn
    # method: here they become workers instead of opening the lab (a no-op in the parent).
    multiprocessing.freeze_support()
    from cnnlab.cli import main

    sys.exit(main())
