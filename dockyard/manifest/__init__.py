"""Manifest parsing and validation, one module per media-type family.

``parse_manifest(body, content_type)`` turns pushed bytes into a validated ``Manifest``
(``dockyard.manifest.base``), whatever the media type: OCI image manifest and index
(``oci``), Docker schema2 manifest and manifest list (``docker``), and the legacy
Docker schema1 signed manifest (``schema1``). ``detect`` decides which type a body is.
"""

from dockyard.manifest.base import MAX_MANIFEST_SIZE, Manifest
from dockyard.manifest.parse import parse_manifest

__all__ = ["MAX_MANIFEST_SIZE", "Manifest", "parse_manifest"]
