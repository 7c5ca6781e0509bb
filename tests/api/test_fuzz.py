"""Fuzzing the API: whatever the request, never a 5xx, and every 4xx is an OCI JSON error."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from api_helpers import DUMMY_DIGEST, digest_of, push_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAME = "library/app"
LAYER_DIGEST = digest_of(b"layer-bytes-")

names = st.one_of(
    st.just(NAME),
    st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,3}", fullmatch=True),
    st.text(min_size=0, max_size=40),
    st.just("a" * 300),
)
digests = st.one_of(
    st.just(DUMMY_DIGEST),
    st.just(LAYER_DIGEST),
    st.from_regex(r"(sha256|sha512|md5|SHA256)?:?[a-fA-F0-9]{0,130}", fullmatch=True),
    st.text(max_size=80),
)
references = st.one_of(digests, st.just("latest"), st.just(".INVALID"), st.text(max_size=140))
endpoints = st.one_of(
    st.tuples(st.just("blobs"), digests),
    st.tuples(st.just("blobs/uploads"), st.one_of(st.just(""), st.text(max_size=40))),
    st.tuples(st.just("manifests"), references),
    st.tuples(st.just("tags"), st.just("list")),
    st.tuples(st.just("referrers"), digests),
    st.tuples(st.text(max_size=20), st.text(max_size=20)),
)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
headers = st.dictionaries(
    st.sampled_from(
        ["Range", "Content-Range", "Content-Type", "If-None-Match", "Accept",
         "X-Forwarded-Proto", "X-Forwarded-Host", "Authorization"]
    ),
    st.one_of(header_values, st.sampled_from(["bytes=0-5", "bytes=-3", "0-9", "bytes=9-2",
                                              "application/vnd.oci.image.manifest.v1+json"])),
    max_size=4,
)  # fmt: skip
queries = st.dictionaries(
    st.sampled_from(["n", "last", "digest", "mount", "from", "_state", "tag", "artifactType"]),
    st.one_of(st.text(max_size=30), digests, st.sampled_from(["0", "-1", "10", "99999999999"])),
    max_size=3,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.just(b""),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
        ),
        max_leaves=10,
    ).map(lambda doc: json.dumps(doc).encode()),
)
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await push_image(client, NAME, "latest")
    return client


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=methods,
    name=names,
    endpoint=endpoints,
    query=queries,
    request_headers=headers,
    body=bodies,
)
async def test_no_request_gets_a_server_error(
    seeded: httpx.AsyncClient,
    method: str,
    name: str,
    endpoint: tuple[str, str],
    query: dict[str, str],
    request_headers: dict[str, str],
    body: bytes,
) -> None:
    kind, arg = endpoint
    path = f"/v2/{quote(name, safe='/')}/{quote(kind, safe='/')}/{quote(arg, safe=':')}"
    response = await seeded.request(
        method, path, params=query, headers=request_headers, content=body
    )
    assert response.status_code < 500, response.text
    if 400 <= response.status_code < 500 and method != "HEAD":
        document = response.json()
        assert document["errors"]
        for entry in document["errors"]:
            assert isinstance(entry["code"], str)
            assert isinstance(entry["message"], str)
            assert "detail" in entry


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(range_header=header_values)
async def test_any_range_header_on_a_blob_is_served_or_refused_cleanly(
    seeded: httpx.AsyncClient, range_header: str
) -> None:
    response = await seeded.get(f"/v2/{NAME}/blobs/{LAYER_DIGEST}", headers={"Range": range_header})
    assert response.status_code in (200, 206, 416)
    if response.status_code == 206:
        assert len(response.content) == int(response.headers["content-length"])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content_range=header_values, chunk=st.binary(min_size=1, max_size=50))
async def test_any_content_range_on_a_chunk_is_accepted_or_refused_cleanly(
    seeded: httpx.AsyncClient, content_range: str, chunk: bytes
) -> None:
    started = await seeded.post(f"/v2/{NAME}/blobs/uploads/")
    response = await seeded.patch(
        started.headers["location"], content=chunk, headers={"Content-Range": content_range}
    )
    assert response.status_code in (202, 416)
    assert response.headers["range"].startswith("0-")
