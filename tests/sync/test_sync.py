"""``dockyard sync`` from a real upstream registry: filtered (by tag and platform), digests
kept, resumable."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from e2e_images import OCI_INDEX, OCI_MANIFEST, OciLayout
from e2e_processes import copy, dockyard_config, dockyard_process, reference_process
from sync_commands import dockyard, registry_config
from test_skopeo import SBOM_TYPE, SIGNATURE_TYPE, push_artifact


def test_sync_copies_the_tags_a_regex_selects_and_resumes_without_copying_again(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    source_layout = OciLayout(tmp_path / "source")
    wanted = {tag: source_layout.add_image(tag, layers=2) for tag in ("v1", "v2")}
    source_layout.add_image("dev", layers=1)
    upstream = reference_process(tmp_path, free_port(), tmp_path / "upstream-root").start()
    try:
        for tag in ("v1", "v2", "dev"):
            copy(source_layout.ref(tag), f"docker://{upstream.host}/team/app:{tag}")
        config = registry_config(tmp_path, "local")
        command = ("sync", "--from", upstream.url, "--tags", "^v", "--json", "-c", config)

        first = dockyard(*command)
        again = dockyard(*command)
        exported = tmp_path / "exported"
        dockyard("export", "team/app:v1", "team/app:v2", "--oci-layout", exported, "-c", config)
        missing = dockyard("export", "team/app:dev", "--oci-layout", tmp_path / "x", "-c", config)
    finally:
        upstream.stop()

    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["tags_copied"] == ["team/app:v1", "team/app:v2"]
    assert json.loads(again.stdout)["tags_current"] == ["team/app:v1", "team/app:v2"]
    assert json.loads(again.stdout)["blobs"] == 0
    index = json.loads((exported / "index.json").read_text())
    digests = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    assert digests == {f"team/app:{tag}": image.digest for tag, image in wanted.items()}
    assert missing.returncode == 1
    assert re.search(r"unknown", missing.stderr)


def test_sync_with_platforms_copies_only_their_children_and_keeps_the_index_digest(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    source_layout = OciLayout(tmp_path / "source")
    platforms = (("linux", "amd64"), ("linux", "arm64"), ("linux", "s390x"))
    index = source_layout.add_index("1.0", platforms=platforms)
    amd64, arm64, s390x = index.children
    upstream = reference_process(tmp_path, free_port(), tmp_path / "upstream-root").start()
    try:
        copy(source_layout.ref("1.0"), f"docker://{upstream.host}/team/multi:1.0", "--all")
        config = registry_config(tmp_path, "local")
        synced = dockyard(
            "sync", "--from", upstream.url, "--repository", "team/multi",
            "--platform", "linux/amd64", "--platform", "linux/arm64/v8", "--json", "-c", config,
        )  # fmt: skip
    finally:
        upstream.stop()
    assert synced.returncode == 0, synced.stderr
    port = free_port()
    server = dockyard_process(
        tmp_path, port, dockyard_config(tmp_path / "local-root", port), name="served"
    ).start()
    try:
        base = f"{server.url}/v2/team/multi/manifests"
        tagged = httpx.get(f"{base}/1.0", headers={"Accept": OCI_INDEX})
        children = {
            image.digest: httpx.get(f"{base}/{image.digest}", headers={"Accept": OCI_MANIFEST})
            for image in (amd64, arm64, s390x)
        }
        pulled = OciLayout(tmp_path / "pulled")
        copy(f"docker://{server.host}/team/multi:1.0", pulled.ref("arm"), "--override-arch=arm64")
        other = httpx.get(f"{server.url}/v2/team/multi/blobs/{s390x.layers[0]}")
    finally:
        server.stop()

    assert tagged.headers["docker-content-digest"] == index.digest
    assert tagged.content == index.manifest
    assert children[amd64.digest].status_code == 200
    assert children[arm64.digest].status_code == 200
    assert children[s390x.digest].json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert pulled.resolve("arm")[0] == arm64.digest
    assert other.status_code == 404
    assert json.loads(synced.stdout)["manifests"] == 3


def test_sync_with_a_wider_platform_filter_adds_the_children_it_now_selects(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    source_layout = OciLayout(tmp_path / "source")
    index = source_layout.add_index("1.0", platforms=(("linux", "amd64"), ("linux", "arm64")))
    upstream = reference_process(tmp_path, free_port(), tmp_path / "upstream-root").start()
    try:
        copy(source_layout.ref("1.0"), f"docker://{upstream.host}/team/multi:1.0", "--all")
        config = registry_config(tmp_path, "local")
        command = ("sync", "--from", upstream.url, "--repository", "team/multi", "--json")
        amd64, arm64 = ("--platform", "linux/amd64"), ("--platform", "linux/arm64")
        narrow = dockyard(*command, *amd64, "-c", config)
        same = dockyard(*command, *amd64, "-c", config)
        wider = dockyard(*command, *amd64, *arm64, "-c", config)
        exported = tmp_path / "exported"
        whole = dockyard("export", "team/multi:1.0", "--oci-layout", exported, "-c", config)
    finally:
        upstream.stop()

    assert json.loads(narrow.stdout)["tags_copied"] == ["team/multi:1.0"]
    assert json.loads(same.stdout)["tags_current"] == ["team/multi:1.0"]
    assert json.loads(same.stdout)["blobs"] == 0
    assert json.loads(wider.stdout)["tags_copied"] == ["team/multi:1.0"]
    assert json.loads(wider.stdout)["manifests"] == 1
    assert whole.returncode == 0, whole.stderr
    for digest, data in index.all_blobs().items():
        assert (exported / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes() == data


def test_sync_with_an_unreadable_platform_names_it(tmp_path: Path) -> None:
    config = registry_config(tmp_path, "local")

    result = dockyard("sync", "--from", "http://127.0.0.1:9", "--platform", "amd64", "-c", config)

    assert result.returncode != 0
    assert "--platform: 'amd64' is not a platform" in result.stderr


def test_sync_copies_referrers_and_those_added_at_the_source_after_a_first_run(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    source_layout = OciLayout(tmp_path / "source")
    image = source_layout.add_image("v1", layers=1)
    port = free_port()
    upstream = dockyard_process(
        tmp_path, port, dockyard_config(tmp_path / "upstream-root", port), name="upstream"
    ).start()
    try:
        copy(source_layout.ref("v1"), f"docker://{upstream.host}/signed/app:v1")
        sbom = push_artifact(upstream, "signed/app", image, SBOM_TYPE, b'{"packages":[]}')
        config = registry_config(tmp_path, "local")
        command = ("sync", "--from", upstream.url, "--repository", "signed/app", "--json")
        first = dockyard(*command, "-c", config)
        signature = push_artifact(upstream, "signed/app", image, SIGNATURE_TYPE, b"signed")
        second = dockyard(*command, "-c", config)
    finally:
        upstream.stop()
    port = free_port()
    server = dockyard_process(
        tmp_path, port, dockyard_config(tmp_path / "local-root", port), name="served"
    ).start()
    try:
        listed = httpx.get(f"{server.url}/v2/signed/app/referrers/{image.digest}").json()
    finally:
        server.stop()

    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["manifests"] == 2
    assert json.loads(second.stdout)["tags_current"] == ["signed/app:v1"]
    assert json.loads(second.stdout)["manifests"] == 1
    assert {m["digest"] for m in listed["manifests"]} == {sbom.digest, signature.digest}
