"""Docker image manifest v2 schema 1, signed (deprecated, kept for old clients).

A schema1 manifest arrives as a libtrust pretty JWS (``libtrust``): the manifest JSON
with a ``signatures`` array spliced in. dockyard accepts it under
``application/vnd.docker.distribution.manifest.v1+prettyjws``, under ``...v1+json``, and
under a generic Content-Type, and requires every signature to verify
(``ManifestUnverified`` otherwise, also when there are none).

Digest and stored bytes, as the reference registry (distribution v2) does them:

- The digest is ``sha256`` of the *canonical payload* (the manifest without its
  signatures, ``body[:formatLength] + formatTail``): ``digest.FromBytes(sm.Canonical)``
  in ``manifest/schema1``. Re-signing a manifest therefore keeps its digest.
- The reference stores only the canonical payload as the revision blob
  (``signedManifestHandler.Put`` puts ``sm.Canonical``) and, when serving, signs it
  afresh with the registry's own key (``Unmarshal`` calls ``jsig.Sign``).

``Manifest.body`` here is the pushed bytes, signatures included, so they can be served
as they came; ``Manifest.digest`` is the canonical digest, so ``body`` does not hash to
``digest``. ``canonical_payload(manifest)`` gives the bytes that do, for a store that
wants the reference's layout (canonical bytes at the digest's blob path) and
``resign`` to sign them again on the way out. ``Manifest.raw`` is the canonical payload's
JSON, the part the signatures cover.

Layers are the ``fsLayers[].blobSum`` digests, deduplicated in order. schema1 gives no
sizes, so their descriptors have size 0: unknown, not to be compared with blob sizes.
There is no config.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cryptography import x509

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import DigestInvalid, ManifestInvalid
from dockyard.manifest import fields
from dockyard.manifest.base import DOCKER_SCHEMA1_SIGNED, Manifest
from dockyard.manifest.libtrust import (
    PrivateKey,
    parse_pretty_signature,
    sign_pretty,
    verify,
)
from dockyard.reference import NAME_MAX_LENGTH, is_valid_name

#: The media type the reference gives schema1 layers (they have none of their own).
SCHEMA1_LAYER: Final = "application/vnd.docker.container.image.rootfs.diff+x-gtar"


def parse_schema1(body: bytes, raw: dict[str, Any]) -> Manifest:
    """Verify and validate a signed schema1 manifest decoded from ``body``."""
    signed = parse_pretty_signature(body, raw)
    canonical = fields.load_object(signed.payload)
    fields.require_schema_version(canonical, 1)
    name = canonical.get("name")
    if not isinstance(name, str) or len(name) > NAME_MAX_LENGTH or not is_valid_name(name):
        raise ManifestInvalid("name must be a valid repository name")
    fields.optional_str(canonical, "tag", "")
    fields.optional_str(canonical, "architecture", "")
    layers = _fs_layers(canonical)
    history = canonical.get("history")
    if history is not None and not isinstance(history, list):
        raise ManifestInvalid("history must be an array")
    if len(history or []) != len(canonical.get("fsLayers") or []):
        raise ManifestInvalid("history and fsLayers must have the same length")
    verify(signed)
    return Manifest(
        media_type=DOCKER_SCHEMA1_SIGNED,
        body=body,
        digest=Digest.of(signed.payload),
        layers=tuple(layers),
        raw=canonical,
    )


def canonical_payload(manifest: Manifest) -> bytes:
    """The signed part of a schema1 manifest: the bytes its digest is computed over."""
    if manifest.media_type != DOCKER_SCHEMA1_SIGNED:
        return manifest.body
    raw = fields.load_object(manifest.body)
    return parse_pretty_signature(manifest.body, raw).payload


def sign_schema1(
    manifest_json: dict[str, Any],
    private_key: PrivateKey,
    *,
    x5c: list[x509.Certificate] | None = None,
) -> bytes:
    """Serialise ``manifest_json`` as Docker does (three-space indent) and sign it.

    Returns a libtrust-compatible pretty JWS. With ``x5c`` (leaf first, the leaf's key
    being ``private_key``) the signature header names the chain instead of a JWK.
    """
    return sign_pretty(go_json_indent(manifest_json).encode("utf-8"), private_key, x5c=x5c)


def resign(canonical: bytes, private_key: PrivateKey) -> bytes:
    """Sign stored canonical payload bytes again, as the reference does when serving."""
    return sign_pretty(canonical, private_key)


def go_json_indent(value: Any) -> str:
    """JSON as Go's ``json.MarshalIndent(v, "", "   ")`` writes it (HTML-safe escapes)."""
    text = json.dumps(value, indent=3, ensure_ascii=False)
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def _fs_layers(canonical: dict[str, Any]) -> list[Descriptor]:
    value = canonical.get("fsLayers")
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestInvalid("fsLayers must be an array")
    seen: set[Digest] = set()
    layers = []
    for index, item in enumerate(value):
        where = f"fsLayers[{index}]"
        layer = fields.require_object(item, where)
        text = layer.get("blobSum")
        if not isinstance(text, str):
            raise ManifestInvalid(f"{where}.blobSum must be a digest string")
        try:
            digest = Digest.parse(text)
        except DigestInvalid as exc:
            raise ManifestInvalid(f"{where}.blobSum is invalid: {exc.message}") from exc
        if digest not in seen:
            seen.add(digest)
            layers.append(Descriptor(media_type=SCHEMA1_LAYER, digest=digest, size=0))
    return layers
