"""``python -m mfval.cli``: the ``mfval`` command."""

import sys

from mfval.cli.main import main

sys.exit(main())
