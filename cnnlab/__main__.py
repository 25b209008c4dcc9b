"""``python -m cnnlab``: the same entry point as the ``cnnlab`` command."""

import sys

from cnnlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
