"""``GET /v2/``, unknown routes and unsupported methods."""

from __future__ import annotations

import httpx
from api_helpers import error_codes
from starlette.applications import Starlette


async def test_version_check_answers_empty_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/")
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["content-type"] == "application/json"


async def test_version_check_sends_the_api_version_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/")
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_version_check_without_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2")
    assert response.status_code == 200


async def test_head_on_version_check_has_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/v2/")
    assert response.status_code == 200
    assert response.content == b""


async def test_unknown_api_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/app/whatever/x")
    assert response.status_code == 404
    assert error_codes(response) == ["NOT_FOUND"]


async def test_path_outside_the_api_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/not-the-api")
    assert response.status_code == 404
    assert error_codes(response) == ["NOT_FOUND"]
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_error_responses_send_the_api_version_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/app/manifests/missing")
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


async def test_unsupported_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/app/tags/list")
    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]
    assert response.headers["allow"] == "GET, HEAD"


async def test_head_error_has_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/v2/app/manifests/missing")
    assert response.status_code == 404
    assert response.content == b""


async def test_invalid_repository_name_is_name_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/UPPER/tags/list")
    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]


async def test_app_mounted_below_a_root_path_routes_the_rest(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/my/registry")
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as http:
        assert (await http.get("/my/registry/v2/")).status_code == 200
        response = await http.get("/my/registry/v2/app/tags/list")
    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]
