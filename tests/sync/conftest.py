"""Fixtures of the export/import tests: the e2e image helpers, and ``dockyard`` run as a
command against configurations of filesystem registries."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))
