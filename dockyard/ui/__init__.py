"""dockyard's web interface: browse, inspect and manage the registry in a browser.

Served by ``dockyard serve`` below ``ui.path`` (``/ui`` by default), through the same
registry services and access control as the API. See ``dockyard.ui.app``.
"""

from __future__ import annotations

from dockyard.ui.access import AccessPolicy, access_policy
from dockyard.ui.app import UISettings, ui_routes

__all__ = ["AccessPolicy", "UISettings", "access_policy", "ui_routes"]
