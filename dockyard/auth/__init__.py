"""Access control: htpasswd, bearer tokens and the built-in token server."""

from dockyard.auth.base import (
    Access,
    AccessDenied,
    AuthChallenge,
    Authorizer,
    Principal,
    Request,
)
from dockyard.auth.errors import AuthConfigError
from dockyard.auth.factory import from_config

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
