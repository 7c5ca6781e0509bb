"""``python -m dockyard``: the ``dockyard`` command, for environments without its script."""

import sys

from dockyard.cli import main

sys.exit(main())
