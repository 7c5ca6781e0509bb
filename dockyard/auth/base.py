"""What the HTTP layer asks of access control, whatever the scheme.

Every handler knows which access its request needs (``repository:<name>:pull`` …); the
app asks the configured ``Authorizer`` to check the request's credentials against it.
The authorizer either returns who the caller is or raises ``Unauthorized`` (no or bad
credentials: 401 with the challenge) or ``Denied`` (authenticated, but not allowed:
403 for htpasswd, 401 ``insufficient_scope`` for tokens, per the token spec).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from dockyard.errors import DockyardError


@dataclass(frozen=True, slots=True)
class Access:
    """One resource and the actions a request needs on it (a token-spec scope)."""

    type: str  # "repository" or "registry"
    name: str  # repository name, or "catalog"
    actions: tuple[str, ...]  # "pull", "push", "delete", "*"

    @property
    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request, and what they may do where the scheme says so."""

    username: str | None  # None for anonymous
    granted: tuple[Access, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of an HTTP request that authorization looks at."""

    method: str
    path: str
    authorization: str | None
    remote_addr: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Access the request can use but does not need (a mount's source repository): a
    #: token challenge names it too, so that the client's token covers it if allowed.
    optional: tuple[Access, ...] = ()


class AuthChallenge(DockyardError):
    """Authentication is required; carries the ``WWW-Authenticate`` header value."""

    def __init__(
        self,
        challenge: str,
        message: str = "authentication required",
        *,
        insufficient_scope: bool = False,
        access: tuple[Access, ...] = (),
    ) -> None:
        super().__init__(
            message,
            detail=[
                {"Type": a.type, "Name": a.name, "Action": action}
                for a in access
                for action in a.actions
            ]
            or None,
        )
        self.challenge = challenge
        self.insufficient_scope = insufficient_scope


class AccessDenied(DockyardError):
    """The caller is authenticated but may not do this."""


class Authorizer(Protocol):
    """Checks a request's credentials against the access it needs."""

    async def authorize(self, request: Request, access: list[Access]) -> Principal:
        """Return the caller, or raise ``AuthChallenge`` / ``AccessDenied``.

        ``access`` may be empty (``GET /v2/``): then only authentication is checked.
        """
        ...

    def routes(self) -> list[object]:
        """Extra Starlette routes the scheme serves (the token server), possibly none."""
        ...
