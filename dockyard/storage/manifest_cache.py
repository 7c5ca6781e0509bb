"""An in-process cache of parsed manifests, keyed by what makes them immutable.

A manifest's body is content-addressed, and the descriptor dockyard files beside its
revision link fixes the media type it is parsed with; together they determine the parsed
``Manifest`` completely. So an entry keyed by (digest, filed descriptor bytes) can never
go stale, whatever other instances do: a re-push that files another descriptor simply
misses, and deletes are seen because callers still check the revision link on every
read. The cache saves the body read and the JSON parse of every GET of a hot manifest.

Its bound holds in bytes of memory, not in bytes of bodies: each entry is charged what
it really holds (``deep_size`` of the parsed manifest, which keeps its body and its
parsed JSON, and of its key), several times the body's length. At most
``DEFAULT_BUDGET_BYTES`` per process (8 MiB), an entry at most ``MAX_ENTRY_BYTES``.
"""

from __future__ import annotations

from typing import Final

from dockyard.digest import Digest
from dockyard.lru import ByteBoundedLRU, charge
from dockyard.manifest import Manifest

#: Entries charged more than this are not kept: they are rare and would crowd out the rest.
MAX_ENTRY_BYTES: Final = 1 << 20
#: Memory the entries hold in all, as ``deep_size`` charges them.
DEFAULT_BUDGET_BYTES: Final = 8 << 20

_Key = tuple[Digest, bytes]


class ManifestCache:
    """A LRU of parsed manifests by (digest, filed descriptor bytes), holding at most
    ``budget_bytes`` of memory (see the module's docstring)."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._entries: ByteBoundedLRU[_Key, Manifest] = ByteBoundedLRU(
            budget_bytes, max_entry_bytes=MAX_ENTRY_BYTES
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def charged_bytes(self) -> int:
        """The memory the entries hold, as charged against ``budget_bytes``."""
        return self._entries.charged_bytes

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def get(self, digest: Digest, descriptor: bytes) -> Manifest | None:
        """The manifest stored under ``digest`` and filed with ``descriptor``, if kept."""
        return self._entries.get((digest, descriptor))

    def put(self, digest: Digest, descriptor: bytes, manifest: Manifest) -> None:
        """Keep ``manifest``, evicting the least recently used ones over the budget."""
        if len(manifest.body) + len(descriptor) > self._entries.max_entry_bytes:
            return  # charged at least its body: not worth walking
        key = (digest, descriptor)
        self._entries.put(key, manifest, charge((key, manifest)))
