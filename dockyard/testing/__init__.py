"""A real dockyard registry for other projects' tests.

With pytest, dockyard's plugin (loaded automatically once dockyard is installed) gives
the ``registry`` fixture, a fresh registry per test, and ``registry_factory`` for
registries with auth or filesystem storage. Elsewhere::

    from dockyard.testing import Registry

    with Registry() as registry:
        registry.push_image("team/app", "v1")
        run_my_tool(f"{registry.host}/team/app:v1")

See docs/testing.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.testing.client import (
        PushedManifest,
        RegistryClient,
        RegistryError,
        Response,
        digest_of,
        tar_layer,
    )
    from dockyard.testing.registry import DEFAULT_USERS, Registry, RegistryStartError

#: Where each public name lives. Loaded on first use: pytest imports this package (for
#: the plugin) in every run, and most runs never start a registry.
_EXPORTS = {
    "PushedManifest": "client",
    "RegistryClient": "client",
    "RegistryError": "client",
    "Response": "client",
    "digest_of": "client",
    "tar_layer": "client",
    "DEFAULT_USERS": "registry",
    "Registry": "registry",
    "RegistryStartError": "registry",
}

__all__ = [
    "DEFAULT_USERS",
    "PushedManifest",
    "Registry",
    "RegistryClient",
    "RegistryError",
    "RegistryStartError",
    "Response",
    "digest_of",
    "tar_layer",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
