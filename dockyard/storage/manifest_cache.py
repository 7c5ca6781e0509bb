"""An in-process cache of parsed manifests, keyed by what makes them immutable.

A manifest's body is content-addressed, and the descriptor dockyard files beside its
revision link fixes the media type it is parsed with; together they determine the parsed
``Manifest`` completely. So an entry keyed by (digest, filed descriptor bytes) can never
go stale, whatever other instances do: a re-push that files another descriptor simply
misses, and deletes are seen because callers still check the revision link on every
read. The cache saves the body read and the JSON parse of every GET of a hot manifest.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from dockyard.digest import Digest
from dockyard.manifest import Manifest

#: Bodies larger than this are not kept: they are rare and would crowd out the rest.
MAX_ENTRY_BYTES: Final = 256 << 10
#: Body bytes kept in all; parsed structures cost a small multiple of this.
DEFAULT_BUDGET_BYTES: Final = 4 << 20

_Key = tuple[Digest, bytes]


class ManifestCache:
    """A bounded LRU of parsed manifests by (digest, filed descriptor bytes)."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[_Key, Manifest] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: Digest, descriptor: bytes) -> Manifest | None:
        """The manifest stored under ``digest`` and filed with ``descriptor``, if kept."""
        key = (digest, descriptor)
        manifest = self._entries.get(key)
        if manifest is not None:
            self._entries.move_to_end(key)
        return manifest

    def put(self, digest: Digest, descriptor: bytes, manifest: Manifest) -> None:
        """Keep ``manifest``, evicting the least recently used ones over the budget."""
        size = len(manifest.body) + len(descriptor)
        if size > MAX_ENTRY_BYTES or size > self.budget_bytes:
            return
        key = (digest, descriptor)
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous.body) + len(descriptor)
        self._entries[key] = manifest
        self._bytes += size
        while self._bytes > self.budget_bytes:
            (_, old_descriptor), old = self._entries.popitem(last=False)
            self._bytes -= len(old.body) + len(old_descriptor)
