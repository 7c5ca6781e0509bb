"""Access control: htpasswd, bearer tokens and the built-in token server.

``from_config`` (``factory``) turns the ``auth`` section of config.yml, as the
configuration model read and checked it (``dockyard.config.model.AuthConfig``), into an
``Authorizer`` (``base``):

- ``basic`` + ``htpasswd``: HTTP Basic against bcrypt entries of an htpasswd file;
- ``token``: bearer tokens (``jwt`` for signatures, ``keys`` and ``chain`` for key trust,
  ``scope`` for what they grant);
- ``tokenserver``: dockyard's own token endpoint and JWKS, issuing tokens by ``rules``
  with a key from ``signingkey``.
"""

from typing import TYPE_CHECKING, Any

from dockyard.auth.base import (
    Access,
    AccessDenied,
    AuthChallenge,
    Authorizer,
    Principal,
    Request,
)
from dockyard.auth.errors import AuthConfigError

if TYPE_CHECKING:
    from dockyard.auth.factory import from_config


def __getattr__(name: str) -> Any:
    # The HTTP layer imports ``base`` on every worker; the schemes (bcrypt, cryptography:
    # about 10 MiB per process) load only where the configuration asks for one.
    if name == "from_config":
        from dockyard.auth.factory import from_config

        return from_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Access",
    "AccessDenied",
    "AuthChallenge",
    "AuthConfigError",
    "Authorizer",
    "Principal",
    "Request",
    "from_config",
]
