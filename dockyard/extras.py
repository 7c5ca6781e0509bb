"""Optional extras: the features that need packages a plain ``pip install dockyard`` omits.

Every configuration of the filesystem and in-memory drivers runs on the default
dependencies. S3 storage and the Redis cache need the ``s3`` and ``redis`` extras
(``pip install 'dockyard[s3,redis]'``). ``require`` runs where such a feature is built,
before its modules are imported, so a configuration that needs a missing extra stops
start-up with a message that names the extra instead of a traceback.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from dockyard.config import ConfigError

#: Each extra and the top-level modules it installs (pyproject.toml's optional-dependencies).
EXTRAS: Final = {"s3": ("aiobotocore", "botocore"), "redis": ("redis",)}


def require(extra: str, feature: str) -> None:
    """Raise ``ConfigError`` naming ``extra`` if ``feature`` cannot run without it."""
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"{feature} needs the optional dependencies of dockyard's {extra!r} extra "
            f"({', '.join(missing)} not installed): pip install 'dockyard[{extra}]'"
        )
