"""Signed upload state: accepted by any holder of the secret, refused when tampered."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.api.upload_state import UploadState, UploadStateCodec
from dockyard.errors import BlobUploadUnknown

NOW = datetime.now(UTC)
STATE = UploadState(name="library/app", id="abc-123", offset=42, started_at=NOW)


def codec(secret: bytes = b"s3cret", ttl: timedelta = timedelta(days=7)) -> UploadStateCodec:
    return UploadStateCodec(secret, ttl)


def test_state_round_trips() -> None:
    token = codec().encode(STATE)
    assert codec().decode(token, "library/app", "abc-123") == STATE


def test_another_instance_with_the_same_secret_accepts_the_state() -> None:
    token = codec(b"shared").encode(STATE)
    assert codec(b"shared").decode(token, "library/app", "abc-123").offset == 42


def test_state_signed_with_another_secret_is_refused() -> None:
    token = codec(b"one").encode(STATE)
    with pytest.raises(BlobUploadUnknown):
        codec(b"two").decode(token, "library/app", "abc-123")


def test_altered_state_is_refused() -> None:
    raw = bytearray(base64.urlsafe_b64decode(codec().encode(STATE)))
    raw[-5] ^= 1
    with pytest.raises(BlobUploadUnknown):
        codec().decode(base64.urlsafe_b64encode(bytes(raw)).decode(), "library/app", "abc-123")


def test_state_for_another_repository_is_refused() -> None:
    with pytest.raises(BlobUploadUnknown):
        codec().decode(codec().encode(STATE), "library/other", "abc-123")


def test_state_for_another_session_is_refused() -> None:
    with pytest.raises(BlobUploadUnknown):
        codec().decode(codec().encode(STATE), "library/app", "other-id")


def test_expired_state_is_refused() -> None:
    old = UploadState("library/app", "abc-123", 0, NOW - timedelta(hours=2))
    with pytest.raises(BlobUploadUnknown):
        codec(ttl=timedelta(hours=1)).decode(codec().encode(old), "library/app", "abc-123")


@pytest.mark.parametrize("token", [None, "", "!!!", "abc", "A" * 5000, "\u00e9\u00e9"])
def test_missing_or_garbage_state_is_refused(token: str | None) -> None:
    with pytest.raises(BlobUploadUnknown):
        codec().decode(token, "library/app", "abc-123")


def test_signed_but_malformed_payload_is_refused() -> None:
    import hashlib
    import hmac

    payload = b'{"Name":"library/app"}'
    mac = hmac.new(b"s3cret", payload, hashlib.sha256).digest()
    token = base64.urlsafe_b64encode(mac + payload).decode()
    with pytest.raises(BlobUploadUnknown):
        codec().decode(token, "library/app", "abc-123")
