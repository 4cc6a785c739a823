"""``python -m mlgym ...``: the ``mlgym`` command."""

import sys

from mlgym.cli import main

if __name__ == "__main__":
    sys.exit(main())
