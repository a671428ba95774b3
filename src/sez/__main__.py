"""``python -m sez``: the ``sez`` command, for environments where its script is not on PATH."""

import sys

from sez.cli import main

sys.exit(main())
