"""Errors access control raises at start-up, before any request is served."""

from __future__ import annotations

from dockyard.errors import DockyardError


class AuthConfigError(DockyardError):
    """The ``auth`` configuration is invalid; the message names the offending key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}", detail={"key": key})
        self.key = key
