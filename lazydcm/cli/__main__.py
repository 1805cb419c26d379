"""``python -m lazydcm.cli``: the ``lazydcm`` command."""

import sys

from lazydcm.cli import main

sys.exit(main())
