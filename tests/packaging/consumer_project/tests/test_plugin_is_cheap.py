"""dockyard's plugin is loaded in every run of this project: tests that use no registry
must not pay for one."""

from __future__ import annotations

import sys


def test_plugin_loads_no_server_code_until_a_registry_is_asked_for() -> None:
    assert "dockyard.testing.plugin" in sys.modules
    loaded = {name for name in sys.modules if name.split(".")[0] in ("starlette", "granian")}
    assert not loaded
    assert "dockyard.server" not in sys.modules
