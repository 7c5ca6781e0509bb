"""Manifest parsing and validation, one module per media-type family.

``parse_manifest(body, content_type)`` turns pushed bytes into a validated ``Manifest``
(``dockyard.manifest.base``), whatever the media type: OCI image manifest and index
(``oci``), Docker schema2 manifest and manifest list (``docker``), and the legacy
Docker schema1 signed manifest (``schema1``). ``detect`` decides which type a body is.

``parse_manifest`` is CPU-bound (it hashes up to 4 MiB and checks schema1 signatures):
on the request path, call it through ``asyncio.to_thread`` for large bodies.
"""

from typing import TYPE_CHECKING, Any

from dockyard.manifest.base import MAX_MANIFEST_SIZE, Manifest
from dockyard.manifest.external import external_layers
from dockyard.manifest.parse import parse_manifest

if TYPE_CHECKING:
    from dockyard.manifest.schema1 import canonical_payload, sign_schema1


def __getattr__(name: str) -> Any:
    # schema1 checks signatures with ``cryptography`` (about 10 MiB per process): loaded
    # on first use, since most registries never see a schema1 manifest.
    if name in ("canonical_payload", "sign_schema1"):
        from dockyard.manifest import schema1

        return getattr(schema1, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_MANIFEST_SIZE",
    "Manifest",
    "canonical_payload",
    "external_layers",
    "parse_manifest",
    "sign_schema1",
]
