"""Blobs, images and the push/pull steps a registry client performs, over bench.http.

Every helper checks the status the OCI Distribution Specification requires, so a
server that answers wrongly fails the figure instead of being measured fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from bench.http import Connection, HttpError, request_target, with_query

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT_MANIFESTS = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
_OCTETS = {"Content-Type": "application/octet-stream"}


@dataclass(frozen=True)
class Blob:
    """Content and its sha256 digest."""

    data: bytes
    digest: str

    @classmethod
    def of(cls, data: bytes) -> Blob:
        """The blob holding ``data``."""
        return cls(data, "sha256:" + hashlib.sha256(data).hexdigest())

    @property
    def size(self) -> int:
        """Length in bytes."""
        return len(self.data)


def random_blob(size: int) -> Blob:
    """``size`` random bytes."""
    return Blob.of(os.urandom(size))


def large_blob(size: int, block: int = 16 << 20) -> Blob:
    """A large blob that no other call returns: a unique head, then a random block repeated.

    Repeating one random block keeps generation cheap; nothing on the servers' path
    compresses or deduplicates within a blob, so it costs them what fresh bytes would.
    """
    body = os.urandom(min(block, size))
    data = (os.urandom(32) + body * (size // len(body) + 1))[:size]
    return Blob.of(data)


@dataclass(frozen=True)
class Image:
    """An OCI image: config, layers, and the manifest that binds them."""

    config: Blob
    layers: tuple[Blob, ...]
    manifest: Blob

    @classmethod
    def build(cls, layers: list[Blob]) -> Image:
        """The image of ``layers`` with a small config naming them."""
        config = Blob.of(
            json.dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {"Labels": {"nonce": os.urandom(8).hex()}},
                    "rootfs": {"type": "layers", "diff_ids": [b.digest for b in layers]},
                },
                separators=(",", ":"),
            ).encode()
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": b.digest, "size": b.size} for b in layers
            ],
        }
        return cls(config, tuple(layers), Blob.of(json.dumps(manifest, indent=3).encode()))

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Config and layers, in push order."""
        return (*self.layers, self.config)


def start_upload(conn: Connection, repo: str) -> str:
    """POST a new upload session; return its Location as a request target."""
    r = conn.request("POST", f"/v2/{repo}/blobs/uploads/").expect(202)
    return request_target(r.header("location"))


def upload_monolithic(conn: Connection, repo: str, blob: Blob) -> None:
    """POST, then one PUT carrying the whole body and its digest."""
    target = start_upload(conn, repo)
    conn.request(
        "PUT", with_query(target, digest=blob.digest), _OCTETS, memoryview(blob.data)
    ).expect(201)


def upload_chunked(conn: Connection, repo: str, blob: Blob, chunk: int) -> None:
    """POST, PATCH ``chunk`` bytes at a time with Content-Range, then PUT the digest."""
    target = start_upload(conn, repo)
    view = memoryview(blob.data)
    for start in range(0, blob.size, chunk):
        piece = view[start : start + chunk]
        headers = {**_OCTETS, "Content-Range": f"{start}-{start + len(piece) - 1}"}
        r = conn.request("PATCH", target, headers, piece).expect(202)
        target = request_target(r.header("location"))
    conn.request("PUT", with_query(target, digest=blob.digest)).expect(201)


def push_blob(conn: Connection, repo: str, blob: Blob) -> None:
    """Push as container clients do: HEAD to skip what exists, POST, PATCH, PUT."""
    # A 307 (to the storage backend, where redirects are on) also says the blob exists.
    if conn.request("HEAD", f"/v2/{repo}/blobs/{blob.digest}").status in (200, 307):
        return
    target = start_upload(conn, repo)
    headers = {**_OCTETS, "Content-Range": f"0-{blob.size - 1}"}
    r = conn.request("PATCH", target, headers, blob.data).expect(202)
    target = request_target(r.header("location"))
    conn.request("PUT", with_query(target, digest=blob.digest)).expect(201)


def mount_blob(conn: Connection, repo: str, blob: Blob, source: str) -> None:
    """Link ``blob`` from repository ``source`` into ``repo`` (cross-repository mount)."""
    target = f"/v2/{repo}/blobs/uploads/?mount={blob.digest}&from={source}"
    r = conn.request("POST", target)
    if r.status == 202:  # mount refused: a registry may open an upload instead
        conn.request(
            "PUT",
            with_query(request_target(r.header("location")), digest=blob.digest),
            _OCTETS,
            blob.data,
        ).expect(201)
    else:
        r.expect(201)


def put_manifest(conn: Connection, repo: str, reference: str, image: Image) -> None:
    """PUT the image's manifest under a tag or its digest."""
    conn.request(
        "PUT",
        f"/v2/{repo}/manifests/{reference}",
        {"Content-Type": OCI_MANIFEST},
        image.manifest.data,
    ).expect(201)


def push_image(conn: Connection, repo: str, tag: str, image: Image) -> None:
    """Push every blob of ``image`` and then its manifest as ``tag``."""
    for blob in image.blobs:
        push_blob(conn, repo, blob)
    put_manifest(conn, repo, tag, image)


def download(conn: Connection, repo: str, blob: Blob, *, verify: bool = False) -> int:
    """GET a blob, counting (or with ``verify``, checking) its bytes; return its length."""
    target = f"/v2/{repo}/blobs/{blob.digest}"
    r = conn.request_following("GET", target, discard_body=not verify).expect(200)
    if r.body_length != blob.size:
        raise HttpError(f"downloaded {r.body_length} bytes of {blob.size}")
    if verify and hashlib.sha256(r.body).hexdigest() != blob.digest.removeprefix("sha256:"):
        raise HttpError("downloaded blob does not match its digest")
    return r.body_length


def pull_image(conn: Connection, repo: str, tag: str, image: Image) -> None:
    """Pull ``image`` as a runtime does: its manifest by tag, then config and layers.

    The manifest must be the one pushed; blobs are counted, not kept (their lengths are
    checked), following redirects to the storage backend.
    """
    r = conn.request("GET", f"/v2/{repo}/manifests/{tag}", {"Accept": ACCEPT_MANIFESTS})
    if r.expect(200).body != image.manifest.data:
        raise HttpError(f"{repo}:{tag}: the manifest pulled is not the one pushed")
    for blob in image.blobs[::-1]:  # the config first, as runtimes read it first
        download(conn, repo, blob)
