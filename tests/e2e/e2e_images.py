"""Images built on disk by the tests: OCI layouts with random layers, and readers for
the layouts (``oci:``) and directories (``dir:``) that skopeo writes back."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Image:
    """One manifest (image or index) and every blob and child manifest below it."""

    digest: str
    manifest: bytes
    media_type: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    children: list[Image] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.manifest)
        return parsed

    @property
    def layers(self) -> list[str]:
        return [layer["digest"] for layer in self.document.get("layers", [])]

    @property
    def config(self) -> str:
        digest: str = self.document["config"]["digest"]
        return digest

    def all_blobs(self) -> dict[str, bytes]:
        """Blobs of this image and of every child, by digest."""
        found = dict(self.blobs)
        for child in self.children:
            found.update(child.all_blobs())
        return found


class OciLayout:
    """An OCI image layout directory that tests write images into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        if not (root / "index.json").exists():
            self._write_index([])

    def ref(self, tag: str) -> str:
        """The skopeo transport reference of ``tag`` in this layout."""
        return f"oci:{self.root}:{tag}"

    def put_blob(self, data: bytes) -> str:
        digest = sha256(data)
        (self.root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        return digest

    def blob(self, digest: str) -> bytes:
        return (self.root / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()

    def add_image(
        self,
        tag: str | None,
        *,
        layers: int = 3,
        layer_size: int = 64 * 1024,
        architecture: str = "amd64",
        os_name: str = "linux",
    ) -> Image:
        """Write a runnable-looking image of ``layers`` random gzip'd tar layers."""
        blobs: dict[str, bytes] = {}
        descriptors = []
        diff_ids = []
        for index in range(layers):
            tar = _random_tar(f"layer{index}", layer_size)
            compressed = gzip.compress(tar, compresslevel=1, mtime=0)
            digest = self.put_blob(compressed)
            blobs[digest] = compressed
            diff_ids.append(sha256(tar))
            descriptors.append({"mediaType": OCI_LAYER, "digest": digest, "size": len(compressed)})
        config = canonical(
            {
                "architecture": architecture,
                "os": os_name,
                "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/true"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created_by": f"layer {i}"} for i in range(layers)],
            }
        )
        config_digest = self.put_blob(config)
        blobs[config_digest] = config
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": descriptors,
            }
        )
        image = Image(sha256(manifest), manifest, OCI_MANIFEST, blobs)
        self.put_blob(manifest)
        if tag is not None:
            self._tag(tag, image, {"architecture": architecture, "os": os_name})
        return image

    def add_index(
        self, tag: str, platforms: tuple[tuple[str, str], ...] = (("linux", "amd64"),)
    ) -> Image:
        """Write a multi-platform image index with one image per ``(os, architecture)``."""
        children = [
            self.add_image(None, layers=2, os_name=os_name, architecture=arch)
            for os_name, arch in platforms
        ]
        index = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": child.digest,
                        "size": len(child.manifest),
                        "platform": {"os": os_name, "architecture": arch},
                    }
                    for child, (os_name, arch) in zip(children, platforms, strict=True)
                ],
            }
        )
        image = Image(sha256(index), index, OCI_INDEX, {}, children)
        self.put_blob(index)
        self._tag(tag, image, None)
        return image

    def resolve(self, tag: str) -> tuple[str, str]:
        """``(digest, media type)`` that ``tag`` names in index.json."""
        for entry in self._read_index():
            if entry.get("annotations", {}).get(REF_NAME) == tag:
                return entry["digest"], entry["mediaType"]
        raise KeyError(tag)

    def _tag(self, tag: str, image: Image, platform: dict[str, str] | None) -> None:
        entries = [e for e in self._read_index() if e.get("annotations", {}).get(REF_NAME) != tag]
        entry: dict[str, Any] = {
            "mediaType": image.media_type,
            "digest": image.digest,
            "size": len(image.manifest),
            "annotations": {REF_NAME: tag},
        }
        if platform:
            entry["platform"] = platform
        entries.append(entry)
        self._write_index(entries)

    def _read_index(self) -> list[dict[str, Any]]:
        manifests: list[dict[str, Any]] = json.loads((self.root / "index.json").read_text())[
            "manifests"
        ]
        return manifests

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        (self.root / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        )


def _random_tar(name: str, size: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for part in range(2):
            data = os.urandom(size // 2)
            info = tarfile.TarInfo(f"{name}/file{part}.bin")
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class DirLayout:
    """A ``dir:`` directory as skopeo writes it: ``manifest.json`` and blobs by hex."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def ref(self) -> str:
        return f"dir:{self.root}"

    def manifest(self, instance: str | None = None) -> bytes:
        if instance is None:
            return (self.root / "manifest.json").read_bytes()
        return (self.root / f"{instance.split(':', 1)[1]}.manifest.json").read_bytes()

    def blob(self, digest: str) -> bytes:
        return (self.root / digest.split(":", 1)[1]).read_bytes()
