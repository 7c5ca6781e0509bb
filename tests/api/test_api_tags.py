"""``GET /v2/<name>/tags/list``: sorted tags, ``n``/``last`` pagination and ``Link``."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import OCI_MANIFEST, error_codes, push_image

NAME = "library/app"
TAGS = ["v1", "alpha", "Zeta", "beta", "1.0"]


@pytest.fixture
async def tagged(client: httpx.AsyncClient) -> list[str]:
    body, _ = await push_image(client, NAME, TAGS[0])
    for tag in TAGS[1:]:
        response = await client.put(
            f"/v2/{NAME}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert response.status_code == 201
    return sorted(TAGS)


async def test_tags_are_listed_sorted(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get(f"/v2/{NAME}/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": NAME, "tags": tagged}
    assert "link" not in response.headers


async def test_n_limits_the_page_and_links_to_the_next(
    client: httpx.AsyncClient, tagged: list[str]
) -> None:
    response = await client.get(f"/v2/{NAME}/tags/list", params={"n": "2"})
    assert response.json()["tags"] == tagged[:2]
    assert response.headers["link"] == (f'</v2/{NAME}/tags/list?last={tagged[1]}&n=2>; rel="next"')


async def test_last_starts_after_the_given_tag(
    client: httpx.AsyncClient, tagged: list[str]
) -> None:
    response = await client.get(f"/v2/{NAME}/tags/list", params={"n": "2", "last": tagged[1]})
    assert response.json()["tags"] == tagged[2:4]


async def test_following_links_visits_every_tag_once(
    client: httpx.AsyncClient, tagged: list[str]
) -> None:
    seen: list[str] = []
    url = f"/v2/{NAME}/tags/list?n=2"
    while url:
        response = await client.get(url)
        seen += response.json()["tags"]
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else ""
    assert seen == tagged


async def test_last_page_has_no_link(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get(f"/v2/{NAME}/tags/list", params={"n": "2", "last": tagged[2]})
    assert response.json()["tags"] == tagged[3:]
    assert "link" not in response.headers


async def test_n_zero_gives_an_empty_list(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.get(f"/v2/{NAME}/tags/list", params={"n": "0"})
    assert response.status_code == 200
    assert response.json() == {"name": NAME, "tags": []}


async def test_n_larger_than_the_tags_gives_them_all(
    client: httpx.AsyncClient, tagged: list[str]
) -> None:
    response = await client.get(f"/v2/{NAME}/tags/list", params={"n": "1000"})
    assert response.json()["tags"] == tagged
    assert "link" not in response.headers


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "9999999999999", "\u0661"])
async def test_malformed_n_is_pagination_number_invalid(
    client: httpx.AsyncClient, tagged: list[str], n: str
) -> None:
    response = await client.get(f"/v2/{NAME}/tags/list", params={"n": n})
    assert response.status_code == 400
    assert error_codes(response) == ["PAGINATION_NUMBER_INVALID"]


async def test_unknown_repository_is_name_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/never/pushed/tags/list")
    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


async def test_unknown_repository_with_n_zero_is_name_unknown(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v2/never/pushed/tags/list", params={"n": "0"})
    assert response.status_code == 404


async def test_head_on_tags_list_has_no_body(client: httpx.AsyncClient, tagged: list[str]) -> None:
    response = await client.head(f"/v2/{NAME}/tags/list")
    assert response.status_code == 200
    assert response.content == b""
