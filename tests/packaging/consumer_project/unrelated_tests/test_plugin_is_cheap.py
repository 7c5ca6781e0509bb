"""A run of tests that never ask for a registry: dockyard's plugin is loaded (from its
entry point) but must not load anything else. Run on its own, since importing
``dockyard.testing`` in another collected module would load the rest."""

from __future__ import annotations

import sys


def test_plugin_loads_no_server_code_until_a_registry_is_asked_for() -> None:
    assert "dockyard.testing.plugin" in sys.modules
    loaded = {name for name in sys.modules if name.split(".")[0] in ("starlette", "granian")}
    assert not loaded
    assert "dockyard.server" not in sys.modules
    assert "dockyard.testing.registry" not in sys.modules
    assert "dockyard.testing.client" not in sys.modules
