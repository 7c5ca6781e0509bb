"""Upload session state carried in the ``_state`` query parameter of upload URLs.

Like the reference registry, the state (repository name, upload id, offset, start time)
travels with the client, signed with ``http.secret`` (HMAC-SHA256), so any instance that
shares the secret accepts it, and a forged, altered, foreign or expired one is refused
before the storage is touched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from dockyard.errors import BlobUploadUnknown

_MAC_SIZE: Final = hashlib.sha256().digest_size
#: Longest ``_state`` accepted; a real one is a few hundred characters.
_MAX_TOKEN: Final = 4096


@dataclass(frozen=True, slots=True)
class UploadState:
    """What an upload URL remembers about its session."""

    name: str
    id: str
    offset: int
    started_at: datetime
    #: The last chunk was shorter than ``OCI-Chunk-Min-Length``: it must have been the
    #: final one, so no more data may follow.
    short_chunk: bool = False


class UploadStateCodec:
    """Signs and verifies ``UploadState`` tokens with one secret."""

    def __init__(self, secret: bytes, ttl: timedelta) -> None:
        self._secret = secret
        self._ttl = ttl

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def encode(self, state: UploadState) -> str:
        """The URL-safe token for ``state``."""
        fields: dict[str, object] = {
            "Name": state.name,
            "UUID": state.id,
            "Offset": state.offset,
            "StartedAt": state.started_at.astimezone(UTC).isoformat(),
        }
        if state.short_chunk:
            fields["ShortChunk"] = True
        payload = json.dumps(fields, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._mac(payload) + payload).decode("ascii")

    def decode(self, token: str | None, name: str, upload_id: str) -> UploadState:
        """Verify ``token`` for the session ``upload_id`` of repository ``name``.

        Raises ``BlobUploadUnknown`` when the token is missing, malformed, forged, made
        for another session, or older than the TTL: in each case the client must start
        over, which is what a 404 on an upload URL tells it.
        """
        if not token or len(token) > _MAX_TOKEN:
            raise BlobUploadUnknown("upload state is missing or invalid")
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise BlobUploadUnknown("upload state is missing or invalid") from None
        mac, payload = raw[:_MAC_SIZE], raw[_MAC_SIZE:]
        if len(mac) != _MAC_SIZE or not hmac.compare_digest(mac, self._mac(payload)):
            raise BlobUploadUnknown("upload state is missing or invalid")
        try:
            fields = json.loads(payload)
            state = UploadState(
                name=fields["Name"],
                id=fields["UUID"],
                offset=int(fields["Offset"]),
                started_at=datetime.fromisoformat(fields["StartedAt"]),
                short_chunk=fields.get("ShortChunk") is True,
            )
        except (ValueError, KeyError, TypeError):
            raise BlobUploadUnknown("upload state is missing or invalid") from None
        if state.name != name or state.id != upload_id:
            raise BlobUploadUnknown("upload state belongs to another upload")
        started = state.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if datetime.now(UTC) - started > self._ttl:
            raise BlobUploadUnknown("upload session has expired")
        return state
