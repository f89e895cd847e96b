"""``python -m siotls``: the command line, see :mod:`siotls.cli`."""

import sys

from siotls.cli import main

if __name__ == "__main__":
    sys.exit(main())
