"""``python -m lbdsl`` is the ``lbdsl`` command."""

import sys

from .cli import main

sys.exit(main())
