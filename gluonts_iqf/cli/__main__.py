"""``python -m gluonts_iqf.cli``: the same as the ``gluonts-iqf`` script."""

import sys

from . import main

sys.exit(main())
