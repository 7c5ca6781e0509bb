"""``dockyard export`` and ``dockyard import``: OCI image layouts in and out, digests kept;
skopeo, the ORAS Python SDK and the ORAS Go library read what export writes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import oras.layout
import oras.provider
import pytest
from e2e_images import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Image, OciLayout, canonical
from e2e_processes import reference_process, skopeo
from sync_commands import dockyard, registry_config


def index_digests(layout: Path) -> dict[str, str]:
    document = json.loads((layout / "index.json").read_text())
    return {
        entry["annotations"]["org.opencontainers.image.ref.name"]: entry["digest"]
        for entry in document["manifests"]
    }


@pytest.fixture
def source(tmp_path: Path) -> OciLayout:
    return OciLayout(tmp_path / "source")


def test_export_then_import_into_another_registry_keeps_every_digest(
    tmp_path: Path, source: OciLayout
) -> None:
    image = source.add_image("v1", layers=2)
    index = source.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    first, second = registry_config(tmp_path, "first"), registry_config(tmp_path, "second")
    exported, again = tmp_path / "exported", tmp_path / "again"

    steps = [
        ("import", "--oci-layout", source.root, "--repository", "team/app", "-c", first),
        ("export", "team/app:v1", "team/app:multi", "--oci-layout", exported, "-c", first),
        ("import", "--oci-layout", exported, "-c", second),
        ("export", "team/app:v1", "team/app:multi", "--oci-layout", again, "-c", second),
    ]
    for step in steps:
        result = dockyard(*step)
        assert result.returncode == 0, result.stderr

    expected = {"team/app:v1": image.digest, "team/app:multi": index.digest}
    assert index_digests(exported) == expected
    assert index_digests(again) == expected
    for digest, data in index.all_blobs().items() | image.blobs.items():
        hex_digest = digest.split(":", 1)[1]
        assert (again / "blobs" / "sha256" / hex_digest).read_bytes() == data


def test_skopeo_reads_the_exported_layout(tmp_path: Path, source: OciLayout) -> None:
    index = source.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    config = registry_config(tmp_path, "registry")
    exported = tmp_path / "exported"
    dockyard("import", "--oci-layout", source.root, "--repository", "team/app", "-c", config)
    result = dockyard("export", "team/app:multi", "--oci-layout", exported, "-c", config)
    assert result.returncode == 0, result.stderr

    copied = OciLayout(tmp_path / "copied")
    skopeo("copy", "--all", f"oci:{exported}:team/app:multi", copied.ref("multi"))

    assert copied.resolve("multi")[0] == index.digest


def test_the_oras_go_library_reads_every_blob_of_the_exported_layout(
    tmp_path: Path, source: OciLayout, orasread: Path
) -> None:
    # The ORAS CLI's layout store (oras-go's content.OCI): the reference resolved through
    # index.json, then the index, its manifests, configs and layers fetched from blobs/.
    index = source.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    config = registry_config(tmp_path, "registry")
    exported = tmp_path / "exported"
    dockyard("import", "--oci-layout", source.root, "--repository", "team/app", "-c", config)
    result = dockyard("export", "team/app:multi", "--oci-layout", exported, "-c", config)
    assert result.returncode == 0, result.stderr

    read = subprocess.run(
        [str(orasread), str(exported), "team/app:multi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert read.returncode == 0, read.stderr
    digests = {line.split()[1] for line in read.stdout.splitlines()}
    manifests = {index.digest, *(child.digest for child in index.children)}
    assert digests == manifests | set(index.all_blobs())


def test_export_reports_each_image_as_json_when_asked(tmp_path: Path, source: OciLayout) -> None:
    image = source.add_image("v1", layers=3)
    config = registry_config(tmp_path, "registry")
    dockyard("import", "--oci-layout", source.root, "--repository", "team/app", "-c", config)

    result = dockyard(
        "export", "team/app:v1", "--oci-layout", tmp_path / "out", "--json", "-c", config
    )

    assert json.loads(result.stdout) == [
        {
            "repository": "team/app",
            "tag": "v1",
            "digest": image.digest,
            "blobs": 4,
            "bytes": sum(
                len(data) for digest, data in image.blobs.items() if digest != image.digest
            ),
            "skipped": 0,
        }
    ]


def test_import_of_a_layout_without_repository_names_says_to_pass_one(
    tmp_path: Path, source: OciLayout
) -> None:
    source.add_image("v1", layers=1)
    config = registry_config(tmp_path, "registry")

    result = dockyard("import", "--oci-layout", source.root, "-c", config)

    assert result.returncode == 1
    assert "names no repository" in result.stderr
    assert "--repository" in result.stderr


def test_import_into_a_proxied_repository_is_refused(
    tmp_path: Path, source: OciLayout, free_port: Callable[[], int]
) -> None:
    source.add_image("v1", layers=1)
    upstream = reference_process(tmp_path, free_port(), tmp_path / "upstream-root").start()
    try:
        config = registry_config(tmp_path, "mirror", proxy={"remoteurl": upstream.url})

        result = dockyard(
            "import", "--oci-layout", source.root, "--repository", "team/app", "-c", config
        )
    finally:
        upstream.stop()

    assert result.returncode == 1
    assert "is a pull-through cache of upstream remote" in result.stderr


def test_oci_archive_round_trips_and_skopeo_reads_it(tmp_path: Path, source: OciLayout) -> None:
    image = source.add_image("v1", layers=2)
    first, second = registry_config(tmp_path, "first"), registry_config(tmp_path, "second")
    archive = tmp_path / "out" / "app.tar"
    dockyard("import", "--oci-layout", source.root, "--repository", "team/app", "-c", first)

    exported = dockyard("export", "team/app:v1", "--oci-archive", archive, "-c", first)
    imported = dockyard("import", "--oci-archive", archive, "-c", second)
    copied = OciLayout(tmp_path / "copied")
    skopeo("copy", f"oci-archive:{archive}:team/app:v1", copied.ref("v1"))
    again = tmp_path / "again"
    dockyard("export", "team/app:v1", "--oci-layout", again, "-c", second)

    assert exported.returncode == 0, exported.stderr
    assert imported.returncode == 0, imported.stderr
    assert copied.resolve("v1")[0] == image.digest
    assert index_digests(again) == {"team/app:v1": image.digest}


def test_export_with_referrers_carries_an_images_signature_to_another_registry(
    tmp_path: Path, source: OciLayout
) -> None:
    image = source.add_image("v1", layers=1)
    signature = add_signature(source, image)
    first, second = registry_config(tmp_path, "first"), registry_config(tmp_path, "second")
    dockyard("import", "--oci-layout", source.root, "--repository", "team/app", "-c", first)
    exported, again = tmp_path / "exported", tmp_path / "again"

    dockyard("export", "team/app:v1", "--with-referrers", "--oci-layout", exported, "-c", first)
    dockyard("import", "--oci-layout", exported, "-c", second)
    dockyard("export", "team/app:v1", "--with-referrers", "--oci-layout", again, "-c", second)

    entries = json.loads((again / "index.json").read_text())["manifests"]
    assert [entry["digest"] for entry in entries] == [image.digest, signature]


def add_signature(layout: OciLayout, subject: Image) -> str:
    """An artifact whose subject is ``subject``, listed in the layout's index.json."""
    config = layout.put_blob(b"{}")
    payload = layout.put_blob(b"signature")
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature.v1",
            "config": {"mediaType": OCI_EMPTY, "digest": config, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": payload, "size": 9}],
            "subject": {
                "mediaType": subject.media_type,
                "digest": subject.digest,
                "size": len(subject.manifest),
            },
        }
    )
    digest = layout.put_blob(manifest)
    index = json.loads((layout.root / "index.json").read_text())
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest)})
    (layout.root / "index.json").write_text(json.dumps(index))
    return digest


def test_oras_pushes_images_from_the_exported_layout_with_their_digests(
    tmp_path: Path, source: OciLayout, free_port: Callable[[], int]
) -> None:
    # oras-py's Layout is the ORAS SDK's `oras copy --from-oci-layout DIR:REF`: it reads
    # index.json for the ref.name, then pushes what the manifest names from blobs/.
    image = source.add_image("v1", layers=2)
    index = source.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    config = registry_config(tmp_path, "registry")
    exported = tmp_path / "exported"
    dockyard("import", "--oci-layout", source.root, "--repository", "team/app", "-c", config)
    result = dockyard(
        "export", "team/app:v1", "team/app:multi", "--oci-layout", exported, "-c", config
    )
    assert result.returncode == 0, result.stderr
    target = reference_process(tmp_path, free_port(), tmp_path / "target-root").start()
    try:
        registry = oras.provider.Registry(target.host, insecure=True)
        layout = oras.layout.Layout(str(exported))
        for ref, tag in (("team/app:v1", "v1"), ("team/app:multi", "multi")):
            layout.push_to_registry(registry, f"{target.host}/copied/app:{tag}", tag=ref)
        pushed = {
            tag: httpx.head(
                f"{target.url}/v2/copied/app/manifests/{tag}",
                headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
            ).headers["docker-content-digest"]
            for tag in ("v1", "multi")
        }
    finally:
        target.stop()

    assert pushed == {"v1": image.digest, "multi": index.digest}
