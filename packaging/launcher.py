"""Entry point of the frozen app: the same CLI as the ``cnnlab`` command (no arguments opens the lab)."""

import sys

from cnnlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
