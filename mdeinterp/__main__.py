"""``python -m mdeinterp``: the command line (see :mod:`mdeinterp.cli`)."""

import sys

from .cli import main

sys.exit(main())
