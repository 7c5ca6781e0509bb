"""What the pull-through cache keeps, and when it asks the upstream again."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from e2e_images import OCI_MANIFEST, OciLayout
from e2e_processes import ServerProcess, copy
from proxy_processes import RateLimiter, SlowLink, StartMirror, StartUpstream
from redis_server import RedisServer


async def _pull(client: httpx.AsyncClient, base: str, name: str, tag: str) -> None:
    """Pull like a client does: the manifest, then every blob, each checked by digest."""
    digests = await _blob_digests(client, base, name, tag)
    await asyncio.gather(*(_blob(client, base, name, d) for d in digests))


async def _blob_digests(client: httpx.AsyncClient, base: str, name: str, tag: str) -> list[str]:
    manifest = await client.get(
        f"{base}/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
    )
    assert manifest.status_code == 200
    document = manifest.json()
    return [document["config"]["digest"], *(layer["digest"] for layer in document["layers"])]


async def _blob(client: httpx.AsyncClient, base: str, name: str, digest: str) -> None:
    response = await client.get(f"{base}/v2/{name}/blobs/{digest}")
    assert response.status_code == 200
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest


def _layout_path(root: Path, *parts: str) -> Path:
    """A path of the reference's storage layout below a registry's root."""
    return root.joinpath("docker", "registry", "v2", *parts)


def _upstream_blob(tmp_path: Path, digest: str) -> Path:
    """Where the upstream keeps the blob's bytes (to corrupt them)."""
    hex_digest = digest.split(":", 1)[1]
    return _layout_path(
        tmp_path / "upstream", "blobs", "sha256", hex_digest[:2], hex_digest, "data"
    )


def test_concurrent_cold_pulls_make_one_upstream_get_per_blob(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=2, layer_size=2 * 1024 * 1024)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    mirror = start_mirror({"remoteurl": upstream.url}, workers=2)

    async def pulls() -> None:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            # The tag is known first, so that every pull asks for the blobs at once.
            await _blob_digests(client, mirror.url, "team/app", "v1")
            await asyncio.gather(*(_pull(client, mirror.url, "team/app", "v1") for _ in range(100)))

    asyncio.run(pulls())

    for digest in image.blobs:
        if digest == image.digest:
            continue
        assert upstream.requests("GET", f"/v2/team/app/blobs/{digest}") == 1, digest


def test_cold_pulls_through_two_instances_sharing_redis_make_one_upstream_get_per_blob(
    start_upstream: StartUpstream,
    start_mirror: StartMirror,
    layout: OciLayout,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=3, layer_size=8 * 1024 * 1024)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    # One storage, but lock folders of their own: only Redis can keep them in step.
    mirrors = [
        start_mirror(
            {"remoteurl": upstream.url, "lockdir": str(tmp_path / f"locks-{n}")},
            config={"redis": {"addr": redis_server.addr}},
            name=f"mirror-{n}",
            root=tmp_path / "shared-root",
        )
        for n in (1, 2)
    ]

    async def pulls() -> None:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            # Both instances know the manifest; then every blob is asked of both at once.
            for mirror in mirrors:
                digests = await _blob_digests(client, mirror.url, "team/app", "v1")
            await asyncio.gather(
                *(
                    _blob(client, mirrors[n % 2].url, "team/app", digest)
                    for digest in digests
                    for n in range(20)
                )
            )

    asyncio.run(pulls())

    for digest in image.blobs:
        if digest == image.digest:
            continue
        assert upstream.requests("GET", f"/v2/team/app/blobs/{digest}") == 1, digest


def test_cached_tags_still_pull_when_the_upstream_is_stopped(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=2)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    # A TTL this short makes the second pull revalidate the tag, which the upstream
    # cannot answer any more.
    mirror = start_mirror({"remoteurl": upstream.url, "ttl": "1s"})
    copy(f"docker://{mirror.host}/team/app:v1", OciLayout(tmp_path / "first").ref("v1"))
    upstream.stop()
    time.sleep(1.1)

    again = OciLayout(tmp_path / "again")
    copy(f"docker://{mirror.host}/team/app:v1", again.ref("v1"))

    assert again.resolve("v1")[0] == image.digest


def test_stale_tag_is_revalidated_with_head_not_downloaded_again(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout
) -> None:
    upstream = start_upstream()
    layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    mirror = start_mirror({"remoteurl": upstream.url, "ttl": "1s"})
    url = f"{mirror.url}/v2/team/app/manifests/v1"
    headers = {"Accept": OCI_MANIFEST}
    first = httpx.get(url, headers=headers)
    time.sleep(1.1)

    second = httpx.get(url, headers=headers)

    assert second.status_code == 200
    assert second.content == first.content
    assert upstream.requests("GET", "/v2/team/app/manifests/v1") == 1
    assert upstream.requests("HEAD", "/v2/team/app/manifests/v1") == 1


def test_tag_moved_upstream_is_followed_once_the_ttl_has_passed(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout
) -> None:
    upstream = start_upstream()
    layout.add_image("old", layers=1)
    moved = layout.add_image("new", layers=1)
    copy(layout.ref("old"), f"docker://{upstream.host}/team/app:v1")
    mirror = start_mirror({"remoteurl": upstream.url, "ttl": "1s"})
    url = f"{mirror.url}/v2/team/app/manifests/v1"
    httpx.get(url, headers={"Accept": OCI_MANIFEST})
    copy(layout.ref("new"), f"docker://{upstream.host}/team/app:v1")
    time.sleep(1.1)

    response = httpx.get(url, headers={"Accept": OCI_MANIFEST})

    assert response.headers["docker-content-digest"] == moved.digest


def test_expiry_in_one_repository_leaves_a_layer_another_repository_links(
    start_upstream: StartUpstream,
    start_mirror: StartMirror,
    layout: OciLayout,
    tmp_path: Path,
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=2)
    for name in ("team/a", "team/b"):
        copy(layout.ref("v1"), f"docker://{upstream.host}/{name}:v1")
    mirror = start_mirror({"remoteurl": upstream.url, "ttl": "2s", "expiry": {"interval": "1s"}})
    root = tmp_path / "mirror-root"
    for name in ("team/a", "team/b"):
        copy(f"docker://{mirror.host}/{name}:v1", OciLayout(tmp_path / name).ref("v1"))
    layer = image.layers[0].split(":", 1)[1]
    a_link = _layout_path(root, "repositories", "team/a", "_layers", "sha256", layer, "link")
    _wait_for(lambda: a_link.exists(), mirror)

    # Pulls of B keep it fresh while A, untouched, outlives its TTL.
    deadline = time.monotonic() + 15
    while a_link.exists() and time.monotonic() < deadline:
        httpx.head(f"{mirror.url}/v2/team/b/manifests/v1", headers={"Accept": OCI_MANIFEST})
        time.sleep(0.2)
    assert not a_link.exists(), "repository A did not expire"
    upstream.stop()

    again = OciLayout(tmp_path / "again")
    copy(f"docker://{mirror.host}/team/b:v1", again.ref("v1"))
    assert again.blob(image.layers[0]) == image.blobs[image.layers[0]]
    assert _layout_path(root, "blobs", "sha256", layer[:2], layer, "data").exists()
    gone = httpx.get(f"{mirror.url}/v2/team/a/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert gone.status_code == 503


def _wait_for(condition: object, mirror: ServerProcess, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met; mirror log:\n{mirror.stderr()[-3000:]}")
        time.sleep(0.1)


def test_rate_limited_upstream_is_not_asked_again_before_retry_after_and_cache_serves(
    start_upstream: StartUpstream,
    start_mirror: StartMirror,
    layout: OciLayout,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    limiter = RateLimiter(tmp_path / "nginx", free_port(), [upstream.host]).start()
    try:
        mirror = start_mirror({"remoteurl": limiter.url, "ttl": "1s"})
        url = f"{mirror.url}/v2/team/app/manifests/v1"
        headers = {"Accept": OCI_MANIFEST}
        assert httpx.get(url, headers=headers).status_code == 200
        time.sleep(1.1)

        answers = [httpx.get(url, headers=headers) for _ in range(3)]
        uncached = httpx.get(f"{mirror.url}/v2/team/app/manifests/v2", headers=headers)

        assert [a.headers["docker-content-digest"] for a in answers] == [image.digest] * 3
        # One GET, one HEAD answered 429; nothing more until Retry-After passes.
        assert limiter.requests(r'"(GET|HEAD) /v2/team/app/manifests/') == 2
        assert limiter.requests(r'" 429 ') == 1
        assert uncached.status_code == 429
        assert uncached.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    finally:
        limiter.stop()


def test_blob_failing_digest_verification_reaches_no_client_whole_and_is_not_kept(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=1, layer_size=1024 * 1024)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    layer = image.layers[0]
    hex_digest = layer.split(":", 1)[1]
    stored = _upstream_blob(tmp_path, layer)
    corrupt = bytearray(stored.read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF
    stored.write_bytes(bytes(corrupt))
    mirror = start_mirror({"remoteurl": upstream.url})
    url = f"{mirror.url}/v2/team/app/blobs/{layer}"

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)

    mirror_root = tmp_path / "mirror-root"
    assert not _layout_path(mirror_root, "blobs", "sha256", hex_digest[:2], hex_digest).exists()


def test_small_blob_failing_digest_verification_is_answered_unavailable(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    stored = _upstream_blob(tmp_path, image.config)
    stored.write_bytes(stored.read_bytes().replace(b"amd64", b"arm64"))
    mirror = start_mirror({"remoteurl": upstream.url})

    response = httpx.get(f"{mirror.url}/v2/team/app/blobs/{image.config}")

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"


def test_read_only_mirror_serves_what_it_cached_and_fetches_nothing(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    cached = layout.add_image("v1", layers=1)
    layout.add_image("v2", layers=1)
    for tag in ("v1", "v2"):
        copy(layout.ref(tag), f"docker://{upstream.host}/team/app:{tag}")
    root = tmp_path / "mirror-root"
    writable = start_mirror({"remoteurl": upstream.url}, root=root)
    copy(f"docker://{writable.host}/team/app:v1", OciLayout(tmp_path / "first").ref("v1"))
    writable.stop()
    read_only = start_mirror(
        {"remoteurl": upstream.url},
        root=root,
        name="read-only",
        config={
            "storage": {
                "filesystem": {"rootdirectory": str(root)},
                "maintenance": {"readonly": {"enabled": True}},
            }
        },
    )

    again = OciLayout(tmp_path / "again")
    copy(f"docker://{read_only.host}/team/app:v1", again.ref("v1"))
    uncached = httpx.get(
        f"{read_only.url}/v2/team/app/manifests/v2", headers={"Accept": OCI_MANIFEST}
    )

    assert again.resolve("v1")[0] == cached.digest
    assert uncached.status_code == 503
    assert upstream.requests("GET", "/v2/team/app/manifests/v2") == 0


def test_first_client_receives_a_cold_blob_while_the_mirror_still_fetches_it(
    start_upstream: StartUpstream,
    start_mirror: StartMirror,
    layout: OciLayout,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=1, layer_size=3 * 1024 * 1024)
    layer = image.layers[0]
    copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    # Behind a 1 MiB/s link the upstream takes about three seconds to send the layer.
    slow = SlowLink(tmp_path / "nginx", free_port(), [upstream.host]).start()
    try:
        mirror = start_mirror({"remoteurl": slow.url})
        started = time.monotonic()
        first_byte = None
        received = hashlib.sha256()
        with httpx.stream("GET", f"{mirror.url}/v2/team/app/blobs/{layer}", timeout=60) as r:
            for chunk in r.iter_bytes():
                if first_byte is None:
                    first_byte = time.monotonic() - started
                received.update(chunk)
        total = time.monotonic() - started
    finally:
        slow.stop()

    assert "sha256:" + received.hexdigest() == layer
    assert first_byte is not None
    assert first_byte < total / 2


def test_layer_fetched_for_one_repository_is_linked_into_another_without_fetching_again(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=2)
    for name in ("team/a", "team/b"):
        copy(layout.ref("v1"), f"docker://{upstream.host}/{name}:v1")
    mirror = start_mirror({"remoteurl": upstream.url})

    copy(f"docker://{mirror.host}/team/a:v1", OciLayout(tmp_path / "a").ref("v1"))
    pulled = OciLayout(tmp_path / "b")
    copy(f"docker://{mirror.host}/team/b:v1", pulled.ref("v1"))

    assert pulled.resolve("v1")[0] == image.digest
    assert upstream.requests("GET", r"/v2/team/b/blobs/\S+") == 0
