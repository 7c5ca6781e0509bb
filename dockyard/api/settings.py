"""What the HTTP layer needs to know about its deployment, fixed at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dockyard.manifest.base import MAX_MANIFEST_SIZE


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Settings of the HTTP API, built by the configuration loader (``dockyard.config``).

    ``secret`` signs the upload state carried in upload ``Location`` URLs (``http.secret``),
    so every instance sharing it accepts the others' sessions. ``host`` is the base URL
    used for ``Location`` headers (``http.host``); without it they are built from
    ``X-Forwarded-*`` headers or the request itself.
    """

    secret: bytes
    host: str | None = None
    delete_enabled: bool = True
    read_only: bool = False
    redirect_enabled: bool = True
    upload_state_ttl: timedelta = timedelta(days=7)
    #: Advertised as ``OCI-Chunk-Min-Length`` when opening an upload; 0 sends nothing.
    chunk_min_length: int = 0
    max_manifest_size: int = MAX_MANIFEST_SIZE
    access_log: bool = False
    #: ``catalog.maxentries``: the most repositories one catalog page may hold.
    catalog_max_entries: int = 1000
