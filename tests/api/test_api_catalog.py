"""``GET /v2/_catalog``: repositories, sorted, in pages."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import error_codes, push_image

REPOSITORIES = ["zeta/app", "alpha", "beta/one", "beta/two"]


@pytest.fixture
async def repositories(client: httpx.AsyncClient) -> list[str]:
    for name in REPOSITORIES:
        await push_image(client, name, "v1")
    return sorted(REPOSITORIES)


async def test_catalog_lists_repositories_sorted(
    client: httpx.AsyncClient, repositories: list[str]
) -> None:
    response = await client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": repositories}


async def test_empty_registry_has_an_empty_catalog(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": []}


async def test_catalog_pages_with_n_and_link(
    client: httpx.AsyncClient, repositories: list[str]
) -> None:
    response = await client.get("/v2/_catalog", params={"n": "2"})
    assert response.json()["repositories"] == repositories[:2]
    assert (
        response.headers["link"]
        == f'</v2/_catalog?last={repositories[1].replace("/", "%2F")}&n=2>; rel="next"'
    )


async def test_catalog_continues_after_last(
    client: httpx.AsyncClient, repositories: list[str]
) -> None:
    response = await client.get("/v2/_catalog", params={"n": "2", "last": repositories[1]})
    assert response.json()["repositories"] == repositories[2:]
    assert "link" not in response.headers


async def test_catalog_n_zero_is_empty(client: httpx.AsyncClient, repositories: list[str]) -> None:
    response = await client.get("/v2/_catalog", params={"n": "0"})
    assert response.json() == {"repositories": []}


async def test_catalog_n_above_the_maximum_is_pagination_number_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v2/_catalog", params={"n": "1001"})
    assert response.status_code == 400
    assert error_codes(response) == ["PAGINATION_NUMBER_INVALID"]


async def test_catalog_malformed_n_is_pagination_number_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v2/_catalog", params={"n": "x"})
    assert response.status_code == 400
    assert error_codes(response) == ["PAGINATION_NUMBER_INVALID"]
