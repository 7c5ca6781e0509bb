"""Encoded slashes: ``%2F`` in a path is never a separator, so ``a%2Fb`` cannot alias the
repository ``a/b`` on any route, in-process and through the real server (granian)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from api_helpers import DUMMY_DIGEST, push_image
from e2e_processes import ServerProcess

UPLOAD_ID = "3f1c5c7e-0000-4000-8000-000000000000"

#: (method, path) of every API route, with the repository name written as ``{name}``.
ROUTES = [
    ("GET", "/v2/{name}/tags/list"),
    ("GET", "/v2/{name}/manifests/latest"),
    ("HEAD", "/v2/{name}/manifests/latest"),
    ("PUT", "/v2/{name}/manifests/latest"),
    ("DELETE", f"/v2/{{name}}/manifests/{DUMMY_DIGEST}"),
    ("GET", f"/v2/{{name}}/blobs/{DUMMY_DIGEST}"),
    ("HEAD", f"/v2/{{name}}/blobs/{DUMMY_DIGEST}"),
    ("DELETE", f"/v2/{{name}}/blobs/{DUMMY_DIGEST}"),
    ("POST", "/v2/{name}/blobs/uploads/"),
    ("GET", f"/v2/{{name}}/blobs/uploads/{UPLOAD_ID}"),
    ("PATCH", f"/v2/{{name}}/blobs/uploads/{UPLOAD_ID}"),
    ("PUT", f"/v2/{{name}}/blobs/uploads/{UPLOAD_ID}"),
    ("DELETE", f"/v2/{{name}}/blobs/uploads/{UPLOAD_ID}"),
    ("GET", f"/v2/{{name}}/referrers/{DUMMY_DIGEST}"),
]
ENCODED_NAMES = ["a%2Fb", "a%2fb", "a/b%2Fc", "%2Fa/b"]


def assert_name_invalid(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    if response.request.method != "HEAD":
        assert response.json()["errors"][0]["code"] == "NAME_INVALID"


@pytest.mark.parametrize("name", ENCODED_NAMES)
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_encoded_slash_in_a_name_is_name_invalid_on_every_route(
    hostile_client: Callable[..., httpx.AsyncClient], method: str, path: str, name: str
) -> None:
    client = hostile_client()
    await push_image(client, "a/b", "latest")
    assert_name_invalid(await client.request(method, path.format(name=name), content=b"{}"))


def test_encoded_slash_is_name_invalid_through_the_real_server(served: ServerProcess) -> None:
    for method, path in ROUTES:
        response = httpx.request(method, served.url + path.format(name="a%2Fb"), content=b"{}")
        assert_name_invalid(response)


def test_plain_names_still_route_through_the_real_server(served: ServerProcess) -> None:
    response = httpx.get(f"{served.url}/v2/a/b/tags/list")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN"
