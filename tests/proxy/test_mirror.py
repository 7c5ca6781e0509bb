"""dockyard as a pull-through cache of a real upstream registry, pulled with skopeo."""

from __future__ import annotations

from pathlib import Path

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
