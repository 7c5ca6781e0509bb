"""Two instances behind nginx round-robin (request buffering off): uploads whose requests
are spread over both, skopeo pushing and pulling through the balancer, and an instance
killed mid-upload while the balancer sends the rest to the survivor."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from e2e_checks import assert_same_in_layout
from e2e_images import OciLayout
from e2e_processes import ServerProcess, copy
from scaleout_client import (
    OCI_MANIFEST,
    MiB,
    chunked_upload,
    digest_of,
    image_manifest,
    monolithic_upload,
    on,
    random_bytes,
)
from scaleout_cluster import kill
from scaleout_nginx import Balancer

NAME = "balanced/app"


def requests_served(instance: ServerProcess, method: str, upload_id: str) -> int:
    """How many ``method`` requests for the upload session the instance logged."""
    pattern = re.compile(rf'"{method} /v2/{NAME}/blobs/uploads/{upload_id}\b')
    return len(pattern.findall(instance.stdout()))


def test_chunked_upload_through_round_robin_lands_on_both_and_completes(
    balancer: Balancer,
    two_instances: tuple[ServerProcess, ServerProcess],
    client: httpx.Client,
) -> None:
    chunks = [random_bytes(2 * MiB) for _ in range(6)]
    digest, _ = chunked_upload(client, [balancer.url], NAME, chunks)
    fetched = client.get(f"{balancer.url}/v2/{NAME}/blobs/{digest}")
    assert digest_of(fetched.content) == digest
    session = re.compile(rf"PATCH /v2/{NAME}/blobs/uploads/([\w-]+)")
    upload_ids = {found for i in two_instances for found in session.findall(i.stdout())}
    assert len(upload_ids) == 1
    (upload_id,) = upload_ids
    patches = [requests_served(instance, "PATCH", upload_id) for instance in two_instances]
    assert sum(patches) == 6
    assert all(count > 0 for count in patches), patches


@pytest.mark.usefixtures("_need_skopeo")
def test_skopeo_pushes_and_pulls_through_the_balancer(balancer: Balancer, tmp_path: Path) -> None:
    source = OciLayout(tmp_path / "source")
    image = source.add_image("v1", layers=4, layer_size=1024 * 1024)
    copy(source.ref("v1"), f"docker://{balancer.host}/{NAME}:v1")
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{balancer.host}/{NAME}:v1", pulled.ref("v1"))
    assert_same_in_layout(pulled, "v1", image)


def test_instance_killed_behind_the_balancer_the_survivor_finishes_the_upload(
    balancer: Balancer,
    two_instances: tuple[ServerProcess, ServerProcess],
    client: httpx.Client,
) -> None:
    first, second = random_bytes(6 * MiB), random_bytes(3 * MiB)
    started = client.post(f"{balancer.url}/v2/{NAME}/blobs/uploads/")
    assert started.status_code == 202
    patched = client.patch(
        started.headers["location"],
        content=first,
        headers={"Content-Range": f"0-{len(first) - 1}"},
    )
    assert patched.status_code == 202
    kill(two_instances[0])
    resumed = client.patch(
        patched.headers["location"],
        content=second,
        headers={"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"},
    )
    assert resumed.status_code == 202, resumed.text
    digest = digest_of(first + second)
    done = client.put(on(balancer.url, resumed.headers["location"], digest=digest))
    assert done.status_code == 201, done.text
    assert digest_of(client.get(f"{balancer.url}/v2/{NAME}/blobs/{digest}").content) == digest


def test_image_workflow_through_the_balancer_sees_one_registry(
    balancer: Balancer, client: httpx.Client
) -> None:
    base = balancer.url
    config = b'{"architecture":"arm64","os":"linux"}'
    layers = [random_bytes(300_000), random_bytes(2 * MiB)]
    monolithic_upload(client, base, NAME, config)
    for layer in layers:
        chunked_upload(client, [base], NAME, [layer[: len(layer) // 2], layer[len(layer) // 2 :]])
    manifest = image_manifest(config, layers)
    manifest_digest = digest_of(manifest)
    for tag in ("1.0", "latest"):
        pushed = client.put(
            f"{base}/v2/{NAME}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert pushed.status_code == 201, pushed.text
    # Round-robin: consecutive reads go to alternate instances; each must agree.
    for _ in range(4):
        assert client.get(f"{base}/v2/{NAME}/tags/list").json()["tags"] == ["1.0", "latest"]
        head = client.head(f"{base}/v2/{NAME}/manifests/latest", headers={"Accept": OCI_MANIFEST})
        assert head.headers["docker-content-digest"] == manifest_digest
    assert client.delete(f"{base}/v2/{NAME}/manifests/{manifest_digest}").status_code == 202
    for _ in range(2):
        gone = client.get(f"{base}/v2/{NAME}/manifests/{manifest_digest}")
        assert gone.status_code == 404
        assert client.get(f"{base}/v2/{NAME}/manifests/latest").status_code == 404
