"""dockyard as a pull-through cache of a real upstream registry, pulled with skopeo."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from e2e_images import OciLayout
from e2e_processes import copy
from proxy_processes import StartMirror, StartUpstream


def test_cold_pull_through_the_mirror_gives_the_upstream_image(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=3)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    mirror = start_mirror({"remoteurl": upstream.url})

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{mirror.host}/team/app:v1", pulled.ref("v1"))

    assert pulled.resolve("v1")[0] == image.digest
    for digest, data in image.blobs.items():
        assert pulled.blob(digest) == data


def test_push_to_a_proxied_repository_is_refused_with_unsupported(
    start_upstream: StartUpstream, start_mirror: StartMirror
) -> None:
    upstream = start_upstream()
    mirror = start_mirror({"remoteurl": upstream.url})

    upload = httpx.post(f"{mirror.url}/v2/team/app/blobs/uploads/")
    manifest = httpx.put(
        f"{mirror.url}/v2/team/app/manifests/v1",
        content=b"{}",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )

    for response in (upload, manifest):
        assert response.status_code == 405
        assert response.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_single_name_image_is_looked_up_in_the_library_namespace(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    image = layout.add_image("3", layers=1)
    copy(layout.ref("3"), f"docker://{upstream.host}/library/alpine:3")
    mirror = start_mirror({"upstreams": [{"name": "hub", "url": upstream.url, "library": True}]})

    short = OciLayout(tmp_path / "short")
    copy(f"docker://{mirror.host}/alpine:3", short.ref("3"))
    full = OciLayout(tmp_path / "full")
    copy(f"docker://{mirror.host}/library/alpine:3", full.ref("3"))

    assert short.resolve("3")[0] == image.digest
    assert full.resolve("3")[0] == image.digest


def test_namespaces_beside_an_upstream_prefix_stay_pushable(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    mirrored = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{upstream.host}/org/tool:v1")
    mirror = start_mirror({"upstreams": [{"name": "corp", "url": upstream.url, "prefix": "corp/"}]})
    own = layout.add_image("v2", layers=1)

    copy(layout.ref("v2"), f"docker://{mirror.host}/team/own:v2")
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{mirror.host}/corp/org/tool:v1", pulled.ref("v1"))
    copy(f"docker://{mirror.host}/team/own:v2", pulled.ref("v2"))

    assert pulled.resolve("v1")[0] == mirrored.digest
    assert pulled.resolve("v2")[0] == own.digest
    assert upstream.requests("HEAD|GET|PUT|POST|PATCH", r"/v2/team/own/\S*") == 0


def test_ns_parameter_routes_to_its_upstream_and_is_answered_with_oci_namespace(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{upstream.host}/org/tool:v1")
    mirror = start_mirror(
        {
            "upstreams": [
                {
                    "name": "corp",
                    "url": upstream.url,
                    "prefix": "corp/",
                    "namespaces": ["registry.corp.example"],
                }
            ]
        }
    )

    response = httpx.get(
        f"{mirror.url}/v2/org/tool/manifests/v1",
        params={"ns": "registry.corp.example"},
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )

    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == image.digest
    assert response.headers["oci-namespace"] == "registry.corp.example"


def test_multi_platform_index_pulls_whole_through_the_mirror(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    index = layout.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    copy(layout.ref("multi"), f"docker://{upstream.host}/team/multi:1", "--all")
    mirror = start_mirror({"remoteurl": upstream.url})

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{mirror.host}/team/multi:1", pulled.ref("1"), "--all")

    assert pulled.resolve("1")[0] == index.digest
    for digest, data in index.all_blobs().items():
        assert pulled.blob(digest) == data
    # Once every child is stored, the index is stored and tagged in the mirror's own store.
    tag_link = tmp_path.joinpath(
        "mirror-root", "docker/registry/v2/repositories/team/multi/_manifests/tags/1/current/link"
    )
    deadline = time.monotonic() + 10
    while not tag_link.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tag_link.read_text() == index.digest
