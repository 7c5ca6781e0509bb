"""Referrers through the mirror: the upstream's referrers API, and what was pulled."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from e2e_images import OCI_MANIFEST, OciLayout
from e2e_processes import copy, dockyard_config, dockyard_process
from proxy_processes import StartMirror
from test_skopeo import SBOM_TYPE, push_artifact


def test_referrers_come_from_the_upstream_and_stay_listed_once_pulled(
    start_mirror: StartMirror,
    layout: OciLayout,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    port = free_port()
    upstream = dockyard_process(
        tmp_path,
        port,
        dockyard_config(tmp_path / "upstream-root", port),
        env={"REGISTRY_HTTP_SECRET": secrets.token_hex(16)},
        name="referrers-upstream",
    ).start()
    try:
        image = layout.add_image("v1", layers=1)
        copy(layout.ref("v1"), f"docker://{upstream.host}/signed/app:v1")
        sbom = push_artifact(upstream, "signed/app", image, SBOM_TYPE, b'{"packages":[]}')
        mirror = start_mirror({"remoteurl": upstream.url})
        referrers_url = f"{mirror.url}/v2/signed/app/referrers/{image.digest}"

        listed = httpx.get(referrers_url).json()["manifests"]
        pulled = httpx.get(
            f"{mirror.url}/v2/signed/app/manifests/{sbom.digest}",
            headers={"Accept": OCI_MANIFEST},
        )
        assert [m["digest"] for m in listed] == [sbom.digest]
        assert listed[0]["artifactType"] == SBOM_TYPE
        assert pulled.content == sbom.manifest
        # Once its blobs are fetched, the artifact is stored (and indexed) by the mirror.
        stored = tmp_path.joinpath(
            "mirror-root/docker/registry/v2/repositories/signed/app/_manifests/revisions",
            *sbom.digest.split(":"),
            "link",
        )
        deadline = time.monotonic() + 10
        while not stored.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        upstream.stop()

    offline = httpx.get(referrers_url).json()["manifests"]
    assert [m["digest"] for m in offline] == [sbom.digest]
