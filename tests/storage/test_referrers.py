"""The referrers index: manifests filed under the subject they name."""

from __future__ import annotations

import json

from storage_helpers import push_image

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.registry import StorageRepository

SIGNATURE = "application/vnd.example.signature"
SBOM = "application/vnd.example.sbom"


def describe(body: bytes) -> Descriptor:
    return Descriptor(OCI_MANIFEST, Digest.of(body), len(body))


async def test_referrer_is_listed_under_its_subject(repo: StorageRepository) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    referrer, _, _ = await push_image(
        repo, b"sig", subject=describe(subject), artifact_type=SIGNATURE
    )
    listed = await repo.referrers.list(Digest.of(subject))
    assert [d.digest for d in listed] == [Digest.of(referrer)]
    assert listed[0].artifact_type == SIGNATURE
    assert listed[0].size == len(referrer)
    assert listed[0].media_type == OCI_MANIFEST


async def test_entry_holds_the_manifest_descriptor_json(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    referrer, _, _ = await push_image(
        repo,
        b"sig",
        subject=describe(subject),
        artifact_type=SIGNATURE,
        annotations={"org.example": "yes"},
    )
    stored = await driver.get_content(
        paths.referrer_descriptor(repo.name, Digest.of(subject), Digest.of(referrer))
    )
    assert json.loads(stored) == {
        "mediaType": OCI_MANIFEST,
        "digest": str(Digest.of(referrer)),
        "size": len(referrer),
        "artifactType": SIGNATURE,
        "annotations": {"org.example": "yes"},
    }


async def test_annotations_are_listed(repo: StorageRepository) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    await push_image(repo, b"sig", subject=describe(subject), annotations={"k": "v"})
    listed = await repo.referrers.list(Digest.of(subject))
    assert listed[0].annotations == {"k": "v"}


async def test_artifact_type_defaults_to_config_media_type(repo: StorageRepository) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    await push_image(repo, b"sig", subject=describe(subject))
    listed = await repo.referrers.list(Digest.of(subject))
    assert listed[0].artifact_type == "application/vnd.oci.image.config.v1+json"


async def test_subject_need_not_exist(repo: StorageRepository) -> None:
    missing = Descriptor(OCI_MANIFEST, Digest.of(b"not pushed"), 10)
    referrer, _, _ = await push_image(repo, b"sig", subject=missing)
    listed = await repo.referrers.list(missing.digest)
    assert [d.digest for d in listed] == [Digest.of(referrer)]


async def test_list_filters_by_artifact_type(repo: StorageRepository) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    await push_image(repo, b"sig", subject=describe(subject), artifact_type=SIGNATURE)
    sbom, _, _ = await push_image(repo, b"sbom", subject=describe(subject), artifact_type=SBOM)
    listed = await repo.referrers.list(Digest.of(subject), SBOM)
    assert [d.digest for d in listed] == [Digest.of(sbom)]


async def test_list_of_subject_without_referrers_is_empty(repo: StorageRepository) -> None:
    assert await repo.referrers.list(Digest.of(b"anything")) == []


async def test_list_lists_every_referrer(repo: StorageRepository) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    referrers = [
        (await push_image(repo, seed, subject=describe(subject)))[0] for seed in (b"1", b"2", b"3")
    ]
    listed = await repo.referrers.list(Digest.of(subject))
    assert sorted(d.digest for d in listed) == sorted(Digest.of(r) for r in referrers)


async def test_manifest_without_subject_is_not_indexed(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await push_image(repo)
    assert await repo.referrers.rebuild() == 0


async def test_rebuild_restores_a_lost_index(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    referrer, _, _ = await push_image(repo, b"sig", subject=describe(subject))
    await driver.delete(paths.referrers_root(repo.name))
    assert await repo.referrers.list(Digest.of(subject)) == []
    assert await repo.referrers.rebuild() == 1
    listed = await repo.referrers.list(Digest.of(subject))
    assert [d.digest for d in listed] == [Digest.of(referrer)]


async def test_rebuild_drops_stale_entries(repo: StorageRepository, driver: StorageDriver) -> None:
    subject = Digest.of(b"subject")
    stale = Digest.of(b"stale")
    await driver.put_content(
        paths.referrer_descriptor(repo.name, subject, stale),
        json.dumps({"mediaType": OCI_MANIFEST, "digest": str(stale), "size": 1}).encode(),
    )
    await push_image(repo)
    await repo.referrers.rebuild()
    assert await repo.referrers.list(subject) == []


async def test_damaged_entry_is_skipped(repo: StorageRepository, driver: StorageDriver) -> None:
    subject = Digest.of(b"subject")
    await driver.put_content(
        paths.referrer_descriptor(repo.name, subject, Digest.of(b"x")), b"{broken"
    )
    assert await repo.referrers.list(subject) == []
