"""Which endpoint a ``/v2/...`` path addresses.

Repository names contain slashes, so one catch-all route takes every ``/v2/`` path and
this module reads it from the right: the last one or two segments say which endpoint
it is, and what is left is the repository name.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from dockyard.api.errors import RouteUnknown
from dockyard.errors import NameInvalid
from dockyard.reference import NAME_MAX_LENGTH, NAME_PATTERN


class Endpoint(enum.Enum):
    """The endpoints of the distribution API."""

    # Members are singletons compared by identity; hashing by identity (in C) rather
    # than Enum's hash of the member's name keeps the dispatcher's table lookup cheap.
    __hash__ = object.__hash__

    BASE = "base"  # /v2/
    CATALOG = "catalog"  # /v2/_catalog
    UPLOAD = "upload"  # /v2/<name>/blobs/uploads/[<id>]
    BLOB = "blob"  # /v2/<name>/blobs/<digest>
    MANIFEST = "manifest"  # /v2/<name>/manifests/<reference>
    TAGS = "tags"  # /v2/<name>/tags/list
    REFERRERS = "referrers"  # /v2/<name>/referrers/<digest>
    REPOSITORY = "repository"  # /v2/_dockyard/repositories/<name> (dockyard's extension)


#: A parsed API path: the endpoint, its repository and its last path argument.
Route = tuple[Endpoint, str, str]

#: A percent-encoded ``/`` in the path as sent (``%2F``, any case).
_ENCODED_SLASH: Final = re.compile(rb"%2f", re.IGNORECASE)

_BASE: Final[Route] = (Endpoint.BASE, "", "")
_CATALOG: Final[Route] = (Endpoint.CATALOG, "", "")
#: dockyard's extension (repository deletion): ``_dockyard`` cannot start a repository name.
_REPOSITORIES: Final = "/v2/_dockyard/repositories/"


def check_name(name: str) -> None:
    """Raise ``NameInvalid`` unless ``name`` follows the repository name grammar."""
    if len(name) > NAME_MAX_LENGTH or not NAME_PATTERN.fullmatch(name):
        raise NameInvalid(f"invalid repository name {name[:NAME_MAX_LENGTH]!r}")


#: What a remembered name costs beyond its characters: the str object and its set slot
#: (the set's table is sized for ``max_entries``, emptied but not shrunk).
NAME_ENTRY_BYTES: Final = 96


class NameValidator:
    """Checks repository names, remembering the ones already found valid.

    A registry serves a limited set of names over and over, and the name grammar is the
    costliest step of reading a path. The memo belongs to the application that owns this
    object and is bounded in entries and in characters: it is emptied when either bound
    is reached, so paths with ever new names cannot grow it. In bytes it holds at most
    ``max_chars`` plus ``NAME_ENTRY_BYTES`` per entry (about 0.6 MiB by default).
    """

    __slots__ = ("_chars", "_names", "max_chars", "max_entries")

    def __init__(self, max_entries: int = 4096, max_chars: int = 256 * 1024) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._names: set[str] = set()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._names)

    @property
    def chars(self) -> int:
        """How many characters the remembered names hold in total."""
        return self._chars

    def check(self, name: str) -> None:
        """Raise ``NameInvalid`` unless ``name`` is a valid repository name."""
        names = self._names
        if name in names:
            return
        check_name(name)
        if len(names) >= self.max_entries or self._chars + len(name) > self.max_chars:
            names.clear()
            self._chars = 0
        names.add(name)
        self._chars += len(name)


def parse(path: str, raw_path: bytes | None = None, names: NameValidator | None = None) -> Route:
    """Parse an API path; ``RouteUnknown`` if no endpoint serves it, ``NameInvalid`` if
    it does but the repository name is malformed. A plain tuple: this runs on every
    request, where building a frozen dataclass costs more than the parse.

    ``raw_path`` is the path as sent (ASGI ``raw_path``), before the server decoded it:
    an encoded ``/`` there is part of a segment, never a separator, so ``a%2Fb`` must
    not alias the repository ``a/b`` (nor an encoded slash move a tag or digest).

    ``names`` is the caller's memo of valid names; without one every name is checked.
    """
    if raw_path is not None and b"%" in raw_path and _ENCODED_SLASH.search(raw_path):
        raise NameInvalid("an encoded '/' (%2F) is not a separator of repository names")
    if path in ("/v2/", "/v2"):
        return _BASE
    if path == "/v2/_catalog":
        return _CATALOG
    head, _, last = path.rpartition("/")
    rest, _, kind = head.rpartition("/")
    if path.startswith(_REPOSITORIES):
        endpoint, rest, last = Endpoint.REPOSITORY, "/v2/" + path[len(_REPOSITORIES) :], ""
    elif kind == "manifests" and last:
        endpoint = Endpoint.MANIFEST
    elif kind == "blobs":
        if last == "uploads":
            endpoint, last = Endpoint.UPLOAD, ""
        elif last:
            endpoint = Endpoint.BLOB
        else:
            raise RouteUnknown()
    elif kind == "uploads" and rest.endswith("/blobs"):
        endpoint = Endpoint.UPLOAD
        rest = rest[: -len("/blobs")]
    elif kind == "tags" and last == "list":
        endpoint, last = Endpoint.TAGS, ""
    elif kind == "referrers" and last:
        endpoint = Endpoint.REFERRERS
    else:
        raise RouteUnknown()
    if not rest.startswith("/v2/"):
        raise RouteUnknown()
    name = rest[4:]
    if names is None:
        check_name(name)
    else:
        names.check(name)
    return endpoint, name, last
