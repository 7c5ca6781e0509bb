"""Who may sign in to the web interface and what each user may see and do.

The interface asks the registry's own access control, so a user sees and does in the
browser exactly what their client could do through the API:

- no ``auth`` section: everybody may do everything (as the API allows);
- ``auth.htpasswd``: users sign in through the same authorizer as ``docker login``; an
  authenticated user may do everything, anonymous callers nothing;
- ``auth.token`` with the built-in token server: users sign in against its htpasswd
  file, and its rules decide every action, anonymous callers included;
- ``auth.token`` with an external token service: the interface cannot check passwords,
  so nobody can sign in and anonymous callers get nothing.

A session remembers the user's fingerprint (a digest of their password hash): removing
the user or changing their password ends every session of theirs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Final

from dockyard.auth.base import AuthChallenge, Authorizer, Request
from dockyard.auth.basic import HtpasswdAuthorizer
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.scope import ALL_ACTIONS
from dockyard.auth.token import TokenAuthorizer
from dockyard.auth.tokenserver import TokenServer

EVERYTHING: Final = frozenset({"pull", "push", "delete", ALL_ACTIONS})
NOTHING: Final[frozenset[str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person using the interface: a signed-in user, or anonymous (``None``)."""

    username: str | None


ANONYMOUS: Final = Viewer(None)


class AccessPolicy:
    """Sign-in and permissions, the same as the API's for the configured scheme."""

    #: Whether users can sign in at all (and so whether the page offers it).
    sign_in_available: bool = False
    #: Why not, for the sign-in page, when ``sign_in_available`` is false.
    sign_in_unavailable_reason: str = ""

    async def sign_in(self, username: str, password: str) -> str | None:
        """The user's fingerprint when the password is theirs, else None."""
        return None

    async def fingerprint(self, username: str) -> str | None:
        """The user's current fingerprint, None once they are gone."""
        return None

    def actions(self, viewer: Viewer, resource_type: str, name: str) -> frozenset[str]:
        """What ``viewer`` may do to a repository or a registry resource (``catalog``)."""
        return NOTHING

    def may(self, viewer: Viewer, action: str, repository: str) -> bool:
        """Whether ``viewer`` may ``pull``/``push``/``delete`` in ``repository``."""
        allowed = self.actions(viewer, "repository", repository)
        return action in allowed or ALL_ACTIONS in allowed

    def may_list_catalog(self, viewer: Viewer) -> bool:
        """Whether ``viewer`` gets the catalog from the API (``registry:catalog:*``)."""
        return ALL_ACTIONS in self.actions(viewer, "registry", "catalog")


class OpenAccess(AccessPolicy):
    """No ``auth`` section: the API serves everyone everything, and so does the interface."""

    sign_in_unavailable_reason = "This registry has no authentication: everyone has access."

    def actions(self, viewer: Viewer, resource_type: str, name: str) -> frozenset[str]:
        return EVERYTHING


class NoSignIn(AccessPolicy):
    """An external token service: only it can check passwords."""

    sign_in_unavailable_reason = (
        "This registry takes tokens from an external token service; the web interface "
        "can sign users in only with htpasswd or dockyard's built-in token server."
    )


class HtpasswdAccess(AccessPolicy):
    """``auth.htpasswd``: a user signed in through the authorizer may do everything."""

    sign_in_available = True

    def __init__(self, authorizer: HtpasswdAuthorizer) -> None:
        self.authorizer = authorizer
        self.users: HtpasswdFile = authorizer.users

    async def sign_in(self, username: str, password: str) -> str | None:
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        request = Request("POST", "/ui/sign-in", f"Basic {credentials}")
        try:
            await self.authorizer.authorize(request, [])
        except AuthChallenge:
            return None
        return await self.users.fingerprint(username)

    async def fingerprint(self, username: str) -> str | None:
        return await self.users.fingerprint(username)

    def actions(self, viewer: Viewer, resource_type: str, name: str) -> frozenset[str]:
        return EVERYTHING if viewer.username is not None else NOTHING


class TokenServerAccess(AccessPolicy):
    """The built-in token server: its users sign in as they get tokens, its rules decide."""

    def __init__(self, server: TokenServer) -> None:
        self.server = server
        self.sign_in_available = server.users is not None
        if server.users is None:
            self.sign_in_unavailable_reason = (
                "The token server has no users (auth.tokenserver.htpasswd): anonymous only."
            )

    async def sign_in(self, username: str, password: str) -> str | None:
        if not await self.server.authenticate(username, password):
            return None
        return await self.fingerprint(username)

    async def fingerprint(self, username: str) -> str | None:
        users = self.server.users
        return await users.fingerprint(username) if users is not None else None

    def actions(self, viewer: Viewer, resource_type: str, name: str) -> frozenset[str]:
        return self.server.rules.allowed(viewer.username, resource_type, name)


def access_policy(authorizer: Authorizer | None) -> AccessPolicy:
    """The policy matching the registry's configured authorizer."""
    if authorizer is None:
        return OpenAccess()
    if isinstance(authorizer, HtpasswdAuthorizer):
        return HtpasswdAccess(authorizer)
    if isinstance(authorizer, TokenAuthorizer) and authorizer.server is not None:
        return TokenServerAccess(authorizer.server)
    return NoSignIn()
