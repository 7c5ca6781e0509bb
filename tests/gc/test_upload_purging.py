"""Abandoned upload sessions go with a collection after ``uploadpurging.age``; on S3, the
multipart upload a session was writing goes with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from s3_server import s3_driver_factory
from storage_helpers import chunks

from dockyard.errors import BlobUploadUnknown
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.s3 import S3Driver
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry
from dockyard.storage.uploads import format_started_at

AGE = timedelta(hours=1)


async def abandoned_session(
    registry: StorageRegistry, started: datetime, data: bytes = b"half of a layer"
) -> str:
    """An upload session holding ``data`` whose start time is ``started``."""
    repo = registry.repository("app")
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(data))
    await registry.driver.put_content(
        paths.upload_started_at("app", status.id), format_started_at(started).encode()
    )
    return status.id


async def test_session_older_than_the_age_is_purged_and_a_young_one_stays(
    registry: StorageRegistry,
) -> None:
    old = await abandoned_session(registry, datetime.now(UTC) - 2 * AGE)
    young = await abandoned_session(registry, datetime.now(UTC))
    result = await collect_garbage(registry.driver, purge_uploads_after=AGE)
    assert result.uploads_purged == 1
    uploads = registry.repository("app").uploads
    with pytest.raises(BlobUploadUnknown):
        await uploads.status(old)
    assert (await uploads.status(young)).offset == len(b"half of a layer")


async def test_dry_run_purges_no_session(registry: StorageRegistry) -> None:
    old = await abandoned_session(registry, datetime.now(UTC) - 2 * AGE)
    result = await collect_garbage(registry.driver, purge_uploads_after=AGE, dry_run=True)
    assert result.uploads_purged == 0
    await registry.repository("app").uploads.status(old)


@pytest.fixture
async def s3(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    async with s3_driver_factory(request, tmp_path) as driver:
        yield driver


async def test_multipart_upload_of_an_abandoned_session_on_s3_is_aborted(
    s3: StorageDriver,
) -> None:
    assert isinstance(s3, S3Driver)
    registry = StorageRegistry(s3)
    # Larger than a part: the session's data is in an S3 multipart upload.
    await abandoned_session(registry, datetime.now(UTC) - 2 * AGE, bytes(6 * 1024 * 1024))
    assert await s3._uploads("/", exact=False) != []
    result = await collect_garbage(s3, purge_uploads_after=AGE)
    assert result.uploads_purged == 1
    assert await s3._uploads("/", exact=False) == []
