"""``python -m qcstar``: the same command line as the ``qcstar`` script."""

import sys

from qcstar.cli import main

sys.exit(main())
