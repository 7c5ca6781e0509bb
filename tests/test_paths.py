"""The path mapper builds exactly the reference registry's layout, path by path."""

from __future__ import annotations

from dockyard.digest import Digest
from dockyard.storage import paths
from dockyard.storage.driver.base import validate_path

HEX = "b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
DIGEST = Digest("sha256", HEX)
V2 = "/docker/registry/v2"


def test_blob_data_path() -> None:
    assert paths.blob_data(DIGEST) == f"{V2}/blobs/sha256/b5/{HEX}/data"


def test_blob_data_path_for_sha512() -> None:
    digest = Digest("sha512", "ab" * 64)
    assert paths.blob_data(digest) == f"{V2}/blobs/sha512/ab/{'ab' * 64}/data"


def test_blob_digest_is_recovered_from_its_data_path() -> None:
    assert paths.blob_digest_from_data_path(paths.blob_data(DIGEST)) == DIGEST


def test_blob_digest_from_other_paths_is_none() -> None:
    assert paths.blob_digest_from_data_path(f"{V2}/blobs/sha256/b5/{HEX}/other") is None
    assert paths.blob_digest_from_data_path(f"{V2}/blobs/sha256/zz/{HEX}/data") is None


def test_layer_link_path() -> None:
    assert (
        paths.layer_link("library/ubuntu", DIGEST)
        == f"{V2}/repositories/library/ubuntu/_layers/sha256/{HEX}/link"
    )


def test_manifest_revision_link_path() -> None:
    assert (
        paths.manifest_revision_link("app", DIGEST)
        == f"{V2}/repositories/app/_manifests/revisions/sha256/{HEX}/link"
    )


def test_tag_current_link_path() -> None:
    assert (
        paths.tag_current_link("app", "v1.0")
        == f"{V2}/repositories/app/_manifests/tags/v1.0/current/link"
    )


def test_tag_index_link_path() -> None:
    assert (
        paths.tag_index_link("app", "v1.0", DIGEST)
        == f"{V2}/repositories/app/_manifests/tags/v1.0/index/sha256/{HEX}/link"
    )


def test_tags_dir_path() -> None:
    assert paths.tags_dir("a/b") == f"{V2}/repositories/a/b/_manifests/tags"


def test_upload_paths() -> None:
    upload = "0d4f7d5e-3b4c-4b0a-9f0e-2a7c8d9e1f20"
    base = f"{V2}/repositories/app/_uploads/{upload}"
    assert paths.upload_data("app", upload) == f"{base}/data"
    assert paths.upload_started_at("app", upload) == f"{base}/startedat"
    assert paths.upload_hashstate("app", upload, "sha256", 1024) == (
        f"{base}/hashstates/sha256/1024"
    )


def test_referrers_live_in_a_folder_the_reference_skips() -> None:
    path = paths.referrer_descriptor("app", DIGEST, Digest("sha256", "c" * 64))
    # distribution's catalog walk skips every "_"-prefixed folder inside a repository
    assert path.startswith(f"{V2}/repositories/app/_dockyard/")


def test_every_mapped_path_is_a_valid_storage_path() -> None:
    upload = "0d4f7d5e-3b4c-4b0a-9f0e-2a7c8d9e1f20"
    for path in [
        paths.blob_data(DIGEST),
        paths.layer_link("a/b", DIGEST),
        paths.manifest_revision_link("a/b", DIGEST),
        paths.tag_current_link("a/b", "latest"),
        paths.tag_index_link("a/b", "latest", DIGEST),
        paths.upload_hashstate("a/b", upload, "sha256", 0),
        paths.referrer_descriptor("a/b", DIGEST, DIGEST),
    ]:
        assert validate_path(path) == path


def test_only_a_well_formed_commit_intent_names_a_digest() -> None:
    digest = Digest.of(b"x")
    entry = paths.upload_commit_intent("a/b", "id", digest).rsplit("/", 1)[1]
    assert paths.commit_intent_digest(entry) == digest
    for other in ("committing", "committing-", "committing-sha256-xyz", "startedat", "data"):
        assert paths.commit_intent_digest(other) is None
