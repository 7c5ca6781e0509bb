"""The data the OCI conformance suite (distribution-spec v1.1.1 ``conformance/``) pushes.

Rebuilt here in the same shape: an image config and a gzip layer, manifests serialised
with tab indentation and no ``mediaType`` field (as Go's image-spec structs marshal
them), the chunked blob split after 3 bytes, and the suite's odd references.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from api_helpers import EMPTY_JSON, EMPTY_JSON_TYPE, OCI_MANIFEST, digest_of

NAMESPACE = "conformance/test"
CROSSMOUNT_NAMESPACE = "conformance/crossmount"
NONEXISTENT_MANIFEST = ".INVALID_MANIFEST_NAME"
INVALID_MANIFEST = b"blablabla"
DUMMY_DIGEST = digest_of(b"hello world")
TAG = "tagtest0"
ANNOTATION = "org.opencontainers.conformance.test"

CONFIG = json.dumps(
    {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}},
    indent="\t",
).encode()
LAYER = base64.b64decode(
    "H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0"
    "WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD"
    "jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA"
)

BLOB_A = b"NBA Jam on my NBA toast"
BLOB_B = b"Hello, how are you today?"
BLOB_B_CHUNK1, BLOB_B_CHUNK2 = BLOB_B[:3], BLOB_B[3:]
BLOB_B_CHUNK1_RANGE = f"0-{len(BLOB_B_CHUNK1) - 1}"
BLOB_B_CHUNK2_RANGE = f"{len(BLOB_B_CHUNK1)}-{len(BLOB_B) - 1}"


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}


def go_manifest(
    config: bytes = CONFIG,
    layers: tuple[bytes, ...] = (LAYER,),
    *,
    config_type: str = "application/vnd.oci.image.config.v1+json",
    subject: bytes | None = None,
    artifact_type: str | None = None,
    annotation: str | None = None,
) -> bytes:
    """A manifest as the suite marshals it (no mediaType field, tab-indented)."""
    document: dict[str, Any] = {"schemaVersion": 2}
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    document["config"] = _descriptor(config_type, config)
    document["layers"] = [
        _descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer) for layer in layers
    ]
    if subject is not None:
        document["subject"] = _descriptor(OCI_MANIFEST, subject)
    if annotation is not None:
        document["annotations"] = {ANNOTATION: annotation}
    return json.dumps(document, indent="\t").encode()


MANIFEST = go_manifest()
MANIFEST_DIGEST = digest_of(MANIFEST)
EMPTY_LAYER_MANIFEST = go_manifest(layers=())

REF_BLOB_A = b"NBA Jam on my NBA toast - referrer A"
REF_BLOB_B = b"NBA Jam on my NBA toast - referrer B"
ARTIFACT_TYPE_A = "application/vnd.nhl.peanut.butter.bagel"
ARTIFACT_TYPE_B = "application/vnd.nba.strawberry.jam.croissant"


def referrer_with_config_type(subject: bytes, blob: bytes, artifact_type: str, note: str) -> bytes:
    """A referrer whose artifact type is its config's media type."""
    return go_manifest(
        EMPTY_JSON, (blob,), config_type=artifact_type, subject=subject, annotation=note
    )


def referrer_with_artifact_type(
    subject: bytes, blob: bytes, artifact_type: str, note: str
) -> bytes:
    """A referrer with an explicit ``artifactType`` and the empty config."""
    return go_manifest(
        EMPTY_JSON,
        (blob,),
        config_type=EMPTY_JSON_TYPE,
        subject=subject,
        artifact_type=artifact_type,
        annotation=note,
    )
