"""Reading pages the way a browser would, for the in-process tests: CSRF tokens, links."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await client.get("/ui/sign-in")
    return await client.post(
        "/ui/sign-in",
        data={"csrf": csrf_of(form), "username": username, "password": password, "next": ""},
    )
