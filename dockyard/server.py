"""Where ``dockyard serve`` comes together; kept for code that imports from here.

The work is split by concern: ``dockyard.assembly`` builds the driver, registry,
authorizer and app from the configuration; ``dockyard.api.middleware`` and
``dockyard.api.access_log`` hold the HTTP middleware; ``dockyard.logs`` the logging;
``dockyard.serving`` runs granian.
"""

from __future__ import annotations

from dockyard.assembly import api_settings, build_app, build_authorizer, build_driver, data_dir
from dockyard.serving import DEFAULT_WORKERS, serve, worker_app, worker_count

__all__ = [
    "DEFAULT_WORKERS",
    "api_settings",
    "build_app",
    "build_authorizer",
    "build_driver",
    "data_dir",
    "serve",
    "worker_app",
    "worker_count",
]
