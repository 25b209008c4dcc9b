"""``python -m cnnlab``: the same entry point as the ``cnnlab`` command."""

import multiprocessing
import sys

from cnnlab.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes of data-parallel training (see packaging/launcher.py)
    sys.exit(main())
