"""skopeo against a real ``dockyard serve``: copy in and out, inspect, list, delete, mount."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from e2e_checks import assert_same_in_layout, assert_served, registry_manifest
from e2e_images import (
    DOCKER_MANIFEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    DirLayout,
    Image,
    OciLayout,
    canonical,
    sha256,
)
from e2e_processes import ServerProcess, copy, skopeo


def test_multilayer_image_copies_in_and_out_with_identical_digests(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    image = layout.add_image("v1", layers=4)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/library/app:v1")
    assert_served(dockyard, "library/app", image)
    assert registry_manifest(dockyard, "library/app", "v1").content == image.manifest

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/library/app:v1", pulled.ref("v1"))
    assert_same_in_layout(pulled, "v1", image)


def test_multi_arch_index_copies_in_and_out_with_all(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    index = layout.add_index(
        "multi", platforms=(("linux", "amd64"), ("linux", "arm64"), ("linux", "s390x"))
    )
    copy(layout.ref("multi"), f"docker://{dockyard.host}/multi/arch:1", "--all")
    assert_served(dockyard, "multi/arch", index)

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/multi/arch:1", pulled.ref("1"), "--all")
    assert_same_in_layout(pulled, "1", index)


def test_docker_schema2_image_round_trips_byte_exact(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    layout.add_image("v1", layers=3)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/docker/image:v2s2", "--format", "v2s2")
    response = registry_manifest(dockyard, "docker/image", "v2s2")
    assert response.headers["content-type"] == DOCKER_MANIFEST
    pushed = response.content
    document = json.loads(pushed)
    assert document["mediaType"] == DOCKER_MANIFEST
    assert response.headers["docker-content-digest"] == sha256(pushed)

    pulled = DirLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/docker/image:v2s2", pulled.ref)
    assert pulled.manifest() == pushed
    for descriptor in [document["config"], *document["layers"]]:
        data = pulled.blob(descriptor["digest"])
        assert sha256(data) == descriptor["digest"]
        assert len(data) == descriptor["size"]


def test_inspect_reports_the_manifest_digest_and_platform(
    dockyard: ServerProcess, layout: OciLayout
) -> None:
    image = layout.add_image("v1", architecture="arm64")
    copy(layout.ref("v1"), f"docker://{dockyard.host}/inspect/me:v1")
    report = json.loads(
        skopeo("inspect", "--tls-verify=false", f"docker://{dockyard.host}/inspect/me:v1")
    )
    assert report["Digest"] == image.digest
    assert report["Architecture"] == "arm64"
    assert report["Layers"] == image.layers
    raw = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{dockyard.host}/inspect/me:v1"
    )
    assert raw.encode() == image.manifest
    config = skopeo(
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        f"docker://{dockyard.host}/inspect/me:v1",
    )
    assert sha256(config.encode()) == image.config


def test_list_tags_returns_every_tag_sorted(dockyard: ServerProcess, layout: OciLayout) -> None:
    layout.add_image("v1", layers=1)
    for tag in ["latest", "1.0", "b", "A"]:
        copy(layout.ref("v1"), f"docker://{dockyard.host}/tags/repo:{tag}")
    listing = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{dockyard.host}/tags/repo")
    )
    assert listing["Tags"] == ["1.0", "A", "b", "latest"]


def test_delete_removes_the_manifest_and_its_tags(
    dockyard: ServerProcess, layout: OciLayout
) -> None:
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/doomed/repo:v1")
    skopeo("delete", "--tls-verify=false", f"docker://{dockyard.host}/doomed/repo:v1")
    gone = httpx.get(f"{dockyard.url}/v2/doomed/repo/manifests/{image.digest}")
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    tags = httpx.get(f"{dockyard.url}/v2/doomed/repo/tags/list").json()
    assert not tags.get("tags")


def test_copy_between_repositories_mounts_every_layer(
    dockyard: ServerProcess, layout: OciLayout
) -> None:
    image = layout.add_image("v1", layers=3)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/team/source:v1")
    copy(f"docker://{dockyard.host}/team/source:v1", f"docker://{dockyard.host}/team/target:v1")
    assert_served(dockyard, "team/target", image)

    # granian writes an access record after its response is sent: give the last one a moment.
    deadline = time.monotonic() + 10
    while True:
        mounted = mounts(dockyard.stdout(), "team/target")
        if mounted.get("team/source", set()) >= set(image.layers) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert mounted.get("team/source", set()) >= set(image.layers)


def mounts(access_log: str, repository: str) -> dict[str, set[str]]:
    """Blobs mounted into ``repository`` (answered 201), by source repository."""
    found: dict[str, set[str]] = {}
    for path, status in re.findall(
        rf'"POST (/v2/{repository}/blobs/uploads/\?\S+) HTTP/1.1" (\d+)', access_log
    ):
        query = parse_qs(urlsplit(path).query)
        if status == "201" and "mount" in query and "from" in query:
            found.setdefault(query["from"][0], set()).add(query["mount"][0])
    return found


EMPTY_CONFIG = b"{}"
SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1"


def push_blob(server: ServerProcess, repository: str, data: bytes) -> dict[str, object]:
    digest = sha256(data)
    response = httpx.post(
        f"{server.url}/v2/{repository}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return {"digest": digest, "size": len(data)}


def push_artifact(
    server: ServerProcess, repository: str, subject: Image, artifact_type: str, payload: bytes
) -> Image:
    """An OCI artifact (empty config, one layer) whose ``subject`` is ``subject``."""
    config = push_blob(server, repository, EMPTY_CONFIG)
    layer = push_blob(server, repository, payload)
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": OCI_EMPTY, **config},
            "layers": [{"mediaType": artifact_type, **layer}],
            "subject": {
                "mediaType": subject.media_type,
                "digest": subject.digest,
                "size": len(subject.manifest),
            },
            "annotations": {"org.opencontainers.image.created": "2026-11-29T00:00:00Z"},
        }
    )
    digest = sha256(manifest)
    response = httpx.put(
        f"{server.url}/v2/{repository}/manifests/{digest}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["oci-subject"] == subject.digest
    blobs = {str(config["digest"]): EMPTY_CONFIG, str(layer["digest"]): payload}
    return Image(digest, manifest, OCI_MANIFEST, blobs)


def test_artifact_with_subject_is_listed_by_the_referrers_api(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    image = layout.add_image("v1", layers=2)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/signed/app:v1")
    sbom = push_artifact(dockyard, "signed/app", image, SBOM_TYPE, b'{"packages":[]}')
    signature = push_artifact(dockyard, "signed/app", image, SIGNATURE_TYPE, b"signature")

    response = httpx.get(f"{dockyard.url}/v2/signed/app/referrers/{image.digest}")
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    listed = {m["digest"]: m for m in index["manifests"]}
    assert set(listed) == {sbom.digest, signature.digest}
    assert listed[sbom.digest] == {
        "mediaType": OCI_MANIFEST,
        "digest": sbom.digest,
        "size": len(sbom.manifest),
        "artifactType": SBOM_TYPE,
        "annotations": {"org.opencontainers.image.created": "2026-11-29T00:00:00Z"},
    }

    filtered = httpx.get(
        f"{dockyard.url}/v2/signed/app/referrers/{image.digest}",
        params={"artifactType": SIGNATURE_TYPE},
    )
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [signature.digest]


def test_artifact_with_subject_copies_out_with_identical_digests(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/signed/app:v1")
    sbom = push_artifact(dockyard, "signed/app", image, SBOM_TYPE, b'{"packages":[]}')
    raw = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{dockyard.host}/signed/app@{sbom.digest}",
    )
    assert raw.encode() == sbom.manifest

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/signed/app@{sbom.digest}", pulled.ref("sbom"))
    assert_same_in_layout(pulled, "sbom", sbom)
    copy(pulled.ref("sbom"), f"docker://{dockyard.host}/signed/copy:sbom")
    assert_served(dockyard, "signed/copy", sbom)


def test_referrers_of_an_unknown_digest_is_an_empty_index(dockyard: ServerProcess) -> None:
    unknown = sha256(b"nothing refers to this")
    response = httpx.get(f"{dockyard.url}/v2/nobody/here/referrers/{unknown}")
    assert response.status_code == 200
    assert response.json()["manifests"] == []


def test_large_layer_copies_in_and_out_with_identical_digests(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    image = layout.add_image("big", layers=1, layer_size=48 * 1024 * 1024)
    copy(layout.ref("big"), f"docker://{dockyard.host}/big/image:1")
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/big/image:1", pulled.ref("1"))
    assert_same_in_layout(pulled, "1", image)
    ranged = httpx.get(
        f"{dockyard.url}/v2/big/image/blobs/{image.layers[0]}",
        headers={"Range": "bytes=1000000-1000999"},
    )
    assert ranged.status_code == 206
    assert ranged.content == image.blobs[image.layers[0]][1_000_000:1_001_000]
