"""Requests on single S3 objects signed by dockyard itself (``storage/driver/s3_objects.py``).

The driver suite runs these reads against SeaweedFS, which checks signatures; here: the
signatures are byte for byte the SDK's, and throttled or failing reads are tried again
as the SDK would (a small HTTP server plays the throttling store: SeaweedFS cannot be
made to answer 503 on demand).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as SdkCredentials

from dockyard.storage.driver.s3_objects import (
    Credentials,
    ObjectRequestError,
    ObjectRequests,
    Signer,
    canonical_query,
)


def _signed_by_sdk(request: AWSRequest, token: str | None) -> datetime:
    """Sign ``request`` as botocore does (its ``Authorization`` header); when it signed."""
    credentials = SdkCredentials("AKIDEXAMPLE", "secret/key", token)
    S3SigV4Auth(credentials, "s3", "eu-west-3").add_auth(request)
    return datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.mark.parametrize("token", [None, "session-token/with+odd=chars"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_object_read_signatures_are_the_sdks(method: str, token: str | None) -> None:
    url = "http://127.0.0.1:9000/bucket/root/docker/registry/v2/~pending/a_b-c.d"
    request = AWSRequest(method=method, url=url)
    signed_at = _signed_by_sdk(request, token)

    ours = Signer("eu-west-3").headers(
        method,
        "127.0.0.1:9000",
        "/bucket/root/docker/registry/v2/~pending/a_b-c.d",
        Credentials("AKIDEXAMPLE", "secret/key", token),
        signed_at,
    )

    assert ours["Authorization"] == request.headers["Authorization"]


@pytest.mark.parametrize("token", [None, "session-token"])
def test_object_put_signatures_are_the_sdks(token: str | None) -> None:
    url = "http://127.0.0.1:9000/bucket/root/~pending/a/data"
    body = b"a small object"
    sent = {
        "Content-Type": "application/octet-stream",
        "x-amz-meta-dockyard-parts": "1-3,7",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "key/1",
        "x-amz-storage-class": "STANDARD_IA",
    }
    request = AWSRequest(method="PUT", url=url, data=body, headers=dict(sent))
    signed_at = _signed_by_sdk(request, token)

    ours = Signer("eu-west-3").headers(
        "PUT",
        "127.0.0.1:9000",
        "/bucket/root/~pending/a/data",
        Credentials("AKIDEXAMPLE", "secret/key", token),
        signed_at,
        hashlib.sha256(body).hexdigest(),
        sent,
    )

    assert ours["Authorization"] == request.headers["Authorization"]


@pytest.mark.parametrize("token", [None, "session-token"])
def test_listing_signatures_are_the_sdks(token: str | None) -> None:
    params = {
        "list-type": "2",
        "prefix": "root/docker/registry/v2/repositories/a_b/_uploads/",
        "delimiter": "/",
        "encoding-type": "url",
        "continuation-token": "1/page+token==",
        "max-keys": "1",
    }
    query = canonical_query(params)
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/bucket", params=params)
    signed_at = _signed_by_sdk(request, token)

    ours = Signer("eu-west-3").headers(
        "GET",
        "127.0.0.1:9000",
        "/bucket",
        Credentials("AKIDEXAMPLE", "secret/key", token),
        signed_at,
        query=query,
    )

    assert ours["Authorization"] == request.headers["Authorization"]


def test_batched_delete_signatures_are_the_sdks() -> None:
    body = b"<Delete><Quiet>true</Quiet><Object><Key>root/a</Key></Object></Delete>"
    sent = {"Content-Type": "application/xml", "Content-MD5": "bm90LWNoZWNrZWQtaGVyZQ=="}
    request = AWSRequest(
        method="POST", url="http://127.0.0.1:9000/bucket?delete", data=body, headers=dict(sent)
    )
    signed_at = _signed_by_sdk(request, None)

    ours = Signer("eu-west-3").headers(
        "POST",
        "127.0.0.1:9000",
        "/bucket",
        Credentials("AKIDEXAMPLE", "secret/key"),
        signed_at,
        hashlib.sha256(body).hexdigest(),
        sent,
        canonical_query({"delete": ""}),
    )

    assert ours["Authorization"] == request.headers["Authorization"]


class ThrottlingStore:
    """Answers each object read with the statuses given, in turn, then with the object."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.statuses:
            status = self.statuses.pop(0)
            code = "NoSuchKey" if status == 404 else f"Status{status}"  # as S3 names a 404
            body = f"<Error><Code>{code}</Code></Error>".encode()
            return web.Response(status=status, body=body)
        return web.Response(
            body=b"content", headers={"Last-Modified": "Wed, 03 Dec 2026 10:00:00 GMT"}
        )


async def _reads(store: ThrottlingStore) -> AsyncIterator[ObjectRequests]:
    app = web.Application()
    app.router.add_route("*", "/{key:.*}", store.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def credentials() -> Credentials | None:
        return Credentials("AKID", "secret")

    async with aiohttp.ClientSession() as session:
        try:
            yield ObjectRequests(
                session, f"http://127.0.0.1:{port}/bucket/probe", "probe", "us-east-1", credentials
            )
        finally:
            await runner.cleanup()


async def test_a_read_answered_503_is_tried_again() -> None:
    store = ThrottlingStore(503, 500)
    async for reads in _reads(store):
        response = await reads.get("a/link")
    assert response.body == b"content"
    assert response.modified == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert store.requests == 3


async def test_a_read_still_throttled_after_three_attempts_fails_with_the_stores_code() -> None:
    store = ThrottlingStore(503, 503, 503)
    async for reads in _reads(store):
        with pytest.raises(ObjectRequestError) as caught:
            await reads.get("a/link")
    assert caught.value.code == "Status503"
    assert store.requests == 3


async def test_a_read_refused_is_not_tried_again() -> None:
    store = ThrottlingStore(403)
    async for reads in _reads(store):
        with pytest.raises(ObjectRequestError) as caught:
            await reads.head("a/link")
    assert caught.value.code == "403"  # a HEAD's answer has no body to name the code
    assert store.requests == 1


async def test_a_missing_object_is_no_such_key() -> None:
    store = ThrottlingStore(404)
    async for reads in _reads(store):
        with pytest.raises(ObjectRequestError) as caught:
            await reads.get("a/link")
    assert caught.value.code == "NoSuchKey"
