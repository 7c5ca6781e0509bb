"""HTTP Basic authentication against an htpasswd file, as the reference registry does it.

Every request must carry valid credentials, ``/v2/`` included; an authenticated user may
do anything (finer rules are what the token server is for).
"""

from __future__ import annotations

import logging

from dockyard.auth.base import Access, AuthChallenge, Principal, Request
from dockyard.auth.credentials import parse_basic, quote
from dockyard.auth.htpasswd import HtpasswdFile

log = logging.getLogger(__name__)


class HtpasswdAuthorizer:
    """An ``Authorizer`` that accepts the users of an htpasswd file."""

    def __init__(self, realm: str, users: HtpasswdFile) -> None:
        self.realm = realm
        self.users = users
        self._challenge = f"Basic realm={quote(realm)}"

    async def authorize(self, request: Request, access: list[Access]) -> Principal:
        credentials = parse_basic(request.authorization)
        if credentials is None:
            raise AuthChallenge(self._challenge, access=tuple(access))
        username, password = credentials
        address = self.users.limiter.address_of(
            request.remote_addr, request.headers.get("x-forwarded-for")
        )
        if not await self.users.verify(username, password, address):
            log.info("basic authentication failed for user %r from %s", username, address)
            raise AuthChallenge(
                self._challenge, "invalid username or password", access=tuple(access)
            )
        return Principal(username, tuple(access))

    def routes(self) -> list[object]:
        return []
