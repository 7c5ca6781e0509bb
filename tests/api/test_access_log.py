"""The optional access log: one line per request, never credentials."""

from __future__ import annotations

import logging
from typing import Any

import pytest


async def test_access_log_records_method_path_and_status(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger="dockyard.access"):
        await http.get("/v2/app/tags/list")
    lines = [r.getMessage() for r in caplog.records if r.name == "dockyard.access"]
    assert len(lines) == 1
    assert "GET /v2/app/tags/list 404" in lines[0]


async def test_access_log_never_contains_authorization(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client(access_log=True)
    with caplog.at_level(logging.DEBUG):
        await http.get("/v2/", headers={"Authorization": "Basic c2VjcmV0OnNlY3JldA=="})
    assert "c2VjcmV0OnNlY3JldA" not in caplog.text


async def test_no_access_log_by_default(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    http = make_client()
    with caplog.at_level(logging.INFO, logger="dockyard.access"):
        await http.get("/v2/")
    assert not [r for r in caplog.records if r.name == "dockyard.access"]
