"""Whatever bytes arrive, parsing fails only with the manifest errors."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.errors import ManifestInvalid, ManifestTooLarge, ManifestUnverified
from dockyard.manifest import parse_manifest
from dockyard.manifest.base import MANIFEST_MEDIA_TYPES
from dockyard.manifest.schema1 import sign_schema1

TYPED = (ManifestInvalid, ManifestTooLarge, ManifestUnverified)

content_types = st.one_of(
    st.none(),
    st.sampled_from([*sorted(MANIFEST_MEDIA_TYPES), "", "application/json", "text/plain"]),
    st.text(max_size=40),
)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["mediaType", "digest", "size", "urls", "platform", "annotations", "x", "os"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)

manifest_keys = st.sampled_from(
    [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "manifests",
        "subject",
        "artifactType",
        "annotations",
        "signatures",
        "fsLayers",
        "history",
        "name",
    ]
)
manifest_like = st.dictionaries(manifest_keys, json_values, max_size=8)


def assert_typed_or_parsed(body: bytes, content_type: str | None) -> None:
    try:
        manifest = parse_manifest(body, content_type)
    except TYPED:
        return
    assert manifest.body == body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=512), content_type=content_types)
def test_arbitrary_bytes_raise_only_manifest_errors(body: bytes, content_type: str | None) -> None:
    assert_typed_or_parsed(body, content_type)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=manifest_like, content_type=content_types)
def test_arbitrary_manifest_shaped_json_raises_only_manifest_errors(
    raw: dict[str, Any], content_type: str | None
) -> None:
    assert_typed_or_parsed(json.dumps(raw).encode(), content_type)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.fixed_dictionaries(
        {"schemaVersion": st.just(1), "name": st.just("a/b")},
        optional={"signatures": json_values, "fsLayers": json_values, "history": json_values},
    )
)
def test_arbitrary_schema1_envelopes_raise_only_manifest_errors(raw: dict[str, Any]) -> None:
    assert_typed_or_parsed(json.dumps(raw, indent=3).encode(), None)


def valid_documents() -> list[dict[str, Any]]:
    descriptor = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": "sha256:" + "a" * 64,
        "size": 1,
        "urls": ["https://example.com/x"],
        "annotations": {"k": "v"},
        "platform": {"os": "linux", "architecture": "amd64", "os.features": ["x"]},
        "artifactType": "application/x",
        "data": "YQ==",
    }
    return [
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": dict(descriptor),
            "layers": [dict(descriptor)],
            "subject": dict(descriptor),
            "annotations": {"a": "b"},
        },
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [dict(descriptor)],
        },
    ]


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document with one value somewhere inside replaced by arbitrary JSON."""
    document: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(valid_documents()))))
    node: Any = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return document
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        node[key] = draw(json_values)
        return document


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=mutated_documents(), content_type=content_types)
def test_valid_manifests_with_one_field_mutated_raise_only_manifest_errors(
    document: dict[str, Any], content_type: str | None
) -> None:
    assert_typed_or_parsed(json.dumps(document).encode(), content_type)


_SIGNED_SCHEMA1 = sign_schema1(
    {
        "schemaVersion": 1,
        "name": "a/b",
        "tag": "t",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": "sha256:" + "b" * 64}],
        "history": [{"v1Compatibility": "{}"}],
    },
    ec.generate_private_key(ec.SECP256R1()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(
        [
            ("header",),
            ("header", "alg"),
            ("header", "jwk"),
            ("header", "jwk", "x"),
            ("header", "jwk", "kty"),
            ("header", "jwk", "crv"),
            ("header", "x5c"),
            ("signature",),
            ("protected",),
        ]
    ),
    value=json_values,
)
def test_signed_schema1_with_signature_field_mutated_raises_only_manifest_errors(
    path: tuple[str, ...], value: Any
) -> None:
    envelope = json.loads(_SIGNED_SCHEMA1)
    node = envelope["signatures"][0]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    start = _SIGNED_SCHEMA1.rindex(b',\n   "signatures"')
    body = _SIGNED_SCHEMA1[:start] + b',"signatures":' + json.dumps(envelope["signatures"]).encode()
    assert_typed_or_parsed(body + b"}", None)
