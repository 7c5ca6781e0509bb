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

from dockyard.testing.client import (
    PushedManifest,
    RegistryClient,
    RegistryError,
    Response,
    digest_of,
    tar_layer,
)
from dockyard.testing.registry import DEFAULT_USERS, Registry, RegistryStartError

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
