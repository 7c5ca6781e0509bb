"""Access control: the access each request needs, and how refusals are answered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import DUMMY_DIGEST, push_blob, push_image, relative

from dockyard.auth.base import Access, AccessDenied, AuthChallenge, Principal, Request

NAME = "library/app"
CHALLENGE = 'Bearer realm="https://auth.example/token",service="registry"'


class RecordingAuthorizer:
    """Grants what ``allowed`` lists (everything when None) and records every check."""

    def __init__(self, allowed: set[str] | None = None, *, anonymous: bool = False) -> None:
        self.allowed = allowed
        self.anonymous = anonymous
        self.checks: list[list[str]] = []
        self.requests: list[Request] = []

    async def authorize(self, request: Request, access: list[Access]) -> Principal:
        self.requests.append(request)
        self.checks.append([a.scope for a in access])
        if self.anonymous:
            raise AuthChallenge(CHALLENGE, access=tuple(access))
        if self.allowed is not None:
            for item in access:
                if item.scope not in self.allowed:
                    raise AccessDenied(f"{item.scope} is not allowed")
        return Principal(username="tester", granted=tuple(access))

    def routes(self) -> list[object]:
        return []


@pytest.fixture
def authorizer() -> RecordingAuthorizer:
    return RecordingAuthorizer()


@pytest.fixture
def authed(make_client: Any, authorizer: RecordingAuthorizer) -> httpx.AsyncClient:
    http: httpx.AsyncClient = make_client(authorizer=authorizer)
    return http


async def test_version_check_needs_authentication_only(
    authed: httpx.AsyncClient, authorizer: RecordingAuthorizer
) -> None:
    await authed.get("/v2/")
    assert authorizer.checks == [[]]


async def test_catalog_needs_registry_catalog_scope(
    authed: httpx.AsyncClient, authorizer: RecordingAuthorizer
) -> None:
    await authed.get("/v2/_catalog")
    assert authorizer.checks == [["registry:catalog:*"]]


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", f"/v2/{NAME}/manifests/v1", f"repository:{NAME}:pull"),
        ("HEAD", f"/v2/{NAME}/manifests/v1", f"repository:{NAME}:pull"),
        ("GET", f"/v2/{NAME}/blobs/{DUMMY_DIGEST}", f"repository:{NAME}:pull"),
        ("GET", f"/v2/{NAME}/tags/list", f"repository:{NAME}:pull"),
        ("GET", f"/v2/{NAME}/referrers/{DUMMY_DIGEST}", f"repository:{NAME}:pull"),
        ("PUT", f"/v2/{NAME}/manifests/v1", f"repository:{NAME}:push,pull"),
        ("POST", f"/v2/{NAME}/blobs/uploads/", f"repository:{NAME}:push,pull"),
        ("DELETE", f"/v2/{NAME}/manifests/v1", f"repository:{NAME}:delete"),
        ("DELETE", f"/v2/{NAME}/blobs/{DUMMY_DIGEST}", f"repository:{NAME}:delete"),
        ("GET", f"/v2/{NAME}/blobs/uploads/x", f"repository:{NAME}:push,pull"),
        ("DELETE", f"/v2/{NAME}/blobs/uploads/x", f"repository:{NAME}:push,pull"),
    ],
)
async def test_each_endpoint_asks_for_its_access(
    authed: httpx.AsyncClient, authorizer: RecordingAuthorizer, method: str, path: str, scope: str
) -> None:
    await authed.request(method, path)
    assert authorizer.checks[0] == [scope]


async def test_authorizer_sees_the_authorization_header(
    authed: httpx.AsyncClient, authorizer: RecordingAuthorizer
) -> None:
    await authed.get("/v2/", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert authorizer.requests[0].authorization == "Basic dXNlcjpwYXNz"
    assert authorizer.requests[0].method == "GET"
    assert authorizer.requests[0].path == "/v2/"


async def test_challenge_is_401_with_www_authenticate(make_client: Any) -> None:
    http = make_client(authorizer=RecordingAuthorizer(anonymous=True))
    response = await http.get(f"/v2/{NAME}/tags/list")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    entry = response.json()["errors"][0]
    assert entry["code"] == "UNAUTHORIZED"
    assert entry["detail"] == [{"Type": "repository", "Name": NAME, "Action": "pull"}]


async def test_challenge_on_the_version_check(make_client: Any) -> None:
    http = make_client(authorizer=RecordingAuthorizer(anonymous=True))
    response = await http.get("/v2/")
    assert response.status_code == 401
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_denied_is_403(make_client: Any) -> None:
    http = make_client(authorizer=RecordingAuthorizer(allowed={f"repository:{NAME}:pull"}))
    response = await http.put(f"/v2/{NAME}/manifests/v1", content=b"{}")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "DENIED"


async def test_refused_request_touches_no_storage(
    client: httpx.AsyncClient, make_client: Any
) -> None:
    http = make_client(authorizer=RecordingAuthorizer(allowed=set()))
    await http.post(f"/v2/{NAME}/blobs/uploads/", params={"digest": DUMMY_DIGEST}, content=b"x")
    assert (await client.get("/v2/_catalog")).json()["repositories"] == []


async def test_mount_asks_for_pull_on_the_source(
    client: httpx.AsyncClient, authed: httpx.AsyncClient, authorizer: RecordingAuthorizer
) -> None:
    digest = await push_blob(client, "source/repo", b"shared")
    response = await authed.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "source/repo"}
    )
    assert response.status_code == 201
    assert authorizer.checks == [[f"repository:{NAME}:push,pull"], ["repository:source/repo:pull"]]


async def test_mount_without_pull_on_the_source_opens_a_session(
    client: httpx.AsyncClient, make_client: Any
) -> None:
    digest = await push_blob(client, "source/repo", b"shared")
    http = make_client(authorizer=RecordingAuthorizer(allowed={f"repository:{NAME}:push,pull"}))
    response = await http.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "source/repo"}
    )
    assert response.status_code == 202
    assert (await client.get(f"/v2/{NAME}/blobs/{digest}")).status_code == 404


async def test_authorized_push_and_pull_work(authed: httpx.AsyncClient) -> None:
    body, _ = await push_image(authed, NAME, "v1")
    assert (await authed.get(f"/v2/{NAME}/manifests/v1")).content == body


async def test_upload_session_continues_under_authorization(authed: httpx.AsyncClient) -> None:
    started = await authed.post(f"/v2/{NAME}/blobs/uploads/")
    response = await authed.get(relative(started.headers["location"]))
    assert response.status_code == 204


async def test_authorizer_routes_are_served(make_client: Any) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    class TokenServing(RecordingAuthorizer):
        def routes(self) -> list[object]:
            async def token(request: Any) -> PlainTextResponse:
                return PlainTextResponse("token")

            return [Route("/auth/token", token)]

    http = make_client(authorizer=TokenServing())
    response = await http.get("/auth/token")
    assert response.text == "token"
