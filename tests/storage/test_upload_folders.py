"""Upload sessions on the filesystem leave no folders behind, whichever way they end."""

from __future__ import annotations

import os

import pytest
from storage_helpers import chunks

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRepository
from dockyard.storage.uploads import WHOLE_BODY_MAX

ALPHA = b"alpha-" * 1000
BETA = b"beta-" * 1000


#: Only the filesystem has folders (the conftest's driver and repository, on it alone).
pytestmark = pytest.mark.parametrize("driver", ["filesystem"], indirect=True)


def folders_below(root: str, name: str) -> list[str]:
    """The folders on disk below repository ``name``'s upload folder, itself included."""
    uploads = os.path.join(root, "docker/registry/v2/repositories", name, "_uploads")
    return [folder for folder, _, _ in os.walk(uploads)]


async def test_committed_session_of_several_chunks_leaves_no_folder(
    repo: StorageRepository, driver: FilesystemDriver
) -> None:
    session = await repo.uploads.create()
    await repo.uploads.append(session.id, 0, chunks(ALPHA))
    await repo.uploads.append(session.id, len(ALPHA), chunks(BETA))
    await repo.uploads.commit(session.id, Digest.of(ALPHA + BETA))
    assert folders_below(driver.root, repo.name) == []


async def test_session_refused_at_commit_before_any_chunk_leaves_no_folder(
    repo: StorageRepository, driver: FilesystemDriver
) -> None:
    session = await repo.uploads.create()
    with pytest.raises(DigestInvalid):
        await repo.uploads.commit(session.id, Digest.of(BETA), final_chunks=chunks(ALPHA))
    assert folders_below(driver.root, repo.name) == []


async def test_cancelled_session_leaves_no_folder(
    repo: StorageRepository, driver: FilesystemDriver
) -> None:
    session = await repo.uploads.create()
    await repo.uploads.append(session.id, 0, chunks(ALPHA))
    await repo.uploads.cancel(session.id)
    assert folders_below(driver.root, repo.name) == []


async def test_upload_of_a_stored_blob_leaves_no_folder(
    repo: StorageRepository, driver: FilesystemDriver
) -> None:
    await repo.uploads.upload(Digest.of(ALPHA), chunks(ALPHA))
    await repo.uploads.upload(Digest.of(ALPHA), chunks(ALPHA))
    assert folders_below(driver.root, repo.name) == []


async def test_streamed_upload_leaves_no_folder(
    repo: StorageRepository, driver: FilesystemDriver
) -> None:
    body = b"x" * (WHOLE_BODY_MAX + 1)
    await repo.uploads.upload(Digest.of(body), chunks(body))
    assert folders_below(driver.root, repo.name) == []


async def test_sha512_upload_of_a_stored_blob_leaves_no_folder(
    repo: StorageRepository, driver: FilesystemDriver
) -> None:
    digest = Digest.of(ALPHA, "sha512")
    await repo.uploads.upload(digest, chunks(ALPHA))
    await repo.uploads.upload(digest, chunks(ALPHA))
    assert folders_below(driver.root, repo.name) == []
