"""Ordering: no operation leaves a link to content that is not durable.

A recording wrapper around a real driver logs every write that makes something visible;
the tests check that content is written before any link that points at it, and that a
chunk's data is durable before its hash state (the acknowledgement) is saved.
"""

from __future__ import annotations

import pytest
from storage_helpers import (
    ALL_DRIVERS,
    CONFIG_TYPE,
    RecordingDriver,
    chunks,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
)

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.manifest.base import OCI_INDEX, OCI_MANIFEST
from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository

pytestmark = ALL_DRIVERS

DATA = b"payload " * 4096


@pytest.fixture
def recorder(driver: StorageDriver) -> RecordingDriver:
    return RecordingDriver(driver)


@pytest.fixture
def recorded(recorder: RecordingDriver) -> StorageRepository:
    return StorageRegistry(recorder).repository("app")


async def test_upload_commit_publishes_data_before_linking(
    recorder: RecordingDriver, recorded: StorageRepository
) -> None:
    status = await recorded.uploads.create()
    await recorded.uploads.commit(status.id, Digest.of(DATA), final_chunks=chunks(DATA))
    digest = Digest.of(DATA)
    data_at = recorder.index("move", lambda p: p == paths.blob_data(digest))
    link_at = recorder.index("put", lambda p: p == paths.layer_link("app", digest))
    assert data_at < link_at
    session = paths.upload_dir("app", status.id)
    session_gone_at = recorder.index("delete", lambda p: p.startswith(session))
    assert link_at < session_gone_at
    with pytest.raises(PathNotFound):
        await recorder.stat(session)


async def test_upload_commit_makes_data_durable_before_moving_it(
    recorder: RecordingDriver, recorded: StorageRepository
) -> None:
    status = await recorded.uploads.create()
    await recorded.uploads.commit(status.id, Digest.of(DATA), final_chunks=chunks(DATA))
    committed_at = recorder.index("commit", lambda p: p == paths.upload_data("app", status.id))
    moved_at = recorder.index("move", lambda p: p == paths.blob_data(Digest.of(DATA)))
    assert committed_at < moved_at


async def test_append_closes_data_before_saving_hash_state(
    recorder: RecordingDriver, recorded: StorageRepository
) -> None:
    status = await recorded.uploads.create()
    await recorded.uploads.append(status.id, 0, chunks(DATA))
    recorder.events.clear()
    await recorded.uploads.append(status.id, len(DATA), chunks(DATA))
    closed_at = recorder.index("close", lambda p: p == paths.upload_data("app", status.id))
    state = paths.upload_hashstate("app", status.id, "sha256", 2 * len(DATA))
    saved_at = recorder.index("put", lambda p: p == state)
    old_state = paths.upload_hashstate("app", status.id, "sha256", len(DATA))
    forgotten_at = recorder.index("delete", lambda p: p == old_state)
    assert closed_at < saved_at < forgotten_at


async def test_blob_put_writes_data_before_link(
    recorder: RecordingDriver, recorded: StorageRepository
) -> None:
    descriptor = await recorded.blobs.put(DATA)
    data_at = recorder.index("put", lambda p: p == paths.blob_data(descriptor.digest))
    link_at = recorder.index("put", lambda p: p == paths.layer_link("app", descriptor.digest))
    assert data_at < link_at


async def test_manifest_put_stores_body_before_revision_link_before_referrer(
    recorder: RecordingDriver, recorded: StorageRepository
) -> None:
    subject = Descriptor(OCI_MANIFEST, Digest.of(b"subject"), 7)
    config = await push_blob(recorded, b"{}", CONFIG_TYPE)
    body = image_manifest(config, [], subject=subject)
    digest = Digest.of(body)
    recorder.events.clear()
    await recorded.manifests.put(body, OCI_MANIFEST)
    body_at = recorder.index("put", lambda p: p == paths.blob_data(digest))
    described_at = recorder.index("put", lambda p: p == paths.manifest_descriptor("app", digest))
    link_at = recorder.index("put", lambda p: p == paths.manifest_revision_link("app", digest))
    referrer = paths.referrer_descriptor("app", subject.digest, digest)
    referrer_at = recorder.index("put", lambda p: p == referrer)
    assert body_at < described_at < link_at < referrer_at


async def test_tag_writes_index_link_before_current_link(
    recorder: RecordingDriver, recorded: StorageRepository
) -> None:
    body, _, _ = await push_image(recorded)
    recorder.events.clear()
    await recorded.tags.tag("v1", Digest.of(body))
    index_at = recorder.index(
        "put", lambda p: p == paths.tag_index_link("app", "v1", Digest.of(body))
    )
    current_at = recorder.index("put", lambda p: p == paths.tag_current_link("app", "v1"))
    assert index_at < current_at


async def test_manifest_delete_removes_tags_before_the_revision(
    recorder: RecordingDriver, recorded: StorageRepository
) -> None:
    body, _, _ = await push_image(recorded)
    await recorded.tags.tag("v1", Digest.of(body))
    recorder.events.clear()
    await recorded.manifests.delete(Digest.of(body))
    tag_gone_at = recorder.index("delete", lambda p: p == paths.tag_dir("app", "v1"))
    revision_gone_at = recorder.index(
        "delete", lambda p: p == paths.manifest_revision_dir("app", Digest.of(body))
    )
    assert tag_gone_at < revision_gone_at


def _link_target(path: str, content: bytes) -> str | None:
    """What the link file written at ``path`` points at (None if it is no link)."""
    if not path.endswith("/link"):
        return None
    digest = Digest.parse(content.decode())
    if "/_manifests/tags/" in path:
        name = paths.repository_name_of(path)
        assert name is not None
        return paths.manifest_revision_link(name, digest)
    return paths.blob_data(digest)


class _LinkChecker(RecordingDriver):
    """Fails any link write whose target is not already stored."""

    async def put_content(self, path: str, content: bytes) -> None:
        target = _link_target(path, content)
        if target is not None:
            try:
                await self.inner.stat(target)
            except PathNotFound:
                pytest.fail(f"link {path} written before its target {target}")
        await super().put_content(path, content)


async def test_no_operation_links_to_missing_content(driver: StorageDriver) -> None:
    registry = StorageRegistry(_LinkChecker(driver))
    repo = registry.repository("app")
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(DATA[:1000]))
    await repo.uploads.commit(status.id, Digest.of(DATA), final_chunks=chunks(DATA[1000:]))
    await registry.repository("other").blobs.mount(Digest.of(DATA), "app")
    body, _, _ = await push_image(repo, b"1")
    child = Descriptor(OCI_MANIFEST, Digest.of(body), len(body))
    index = await repo.manifests.put(index_manifest([child]), OCI_INDEX)
    await repo.tags.tag("latest", index.digest)
    await push_image(repo, b"sig", subject=Descriptor(OCI_INDEX, index.digest, len(index.body)))
    await repo.referrers.rebuild()
