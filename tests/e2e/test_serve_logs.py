"""The logs of a real ``dockyard serve``: JSON throughout when asked, one line per request."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from e2e_processes import ServerProcess, StartDockyard

JSON_LOGS = {"log": {"level": "info", "formatter": "json", "fields": {"service": "dy"}}}


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def access_lines(server: ServerProcess, marker: str) -> list[str]:
    """The access lines that mention ``marker``, once there is one (start-up probes aside)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [line for line in lines(server.stdout()) if marker in line]
        if found:
            return found
        time.sleep(0.05)
    return []


@pytest.mark.parametrize("workers", [1, 2])
def test_json_logs_are_json_on_every_line_start_up_warnings_included(
    start_dockyard: StartDockyard, workers: int
) -> None:
    server = start_dockyard(config={**JSON_LOGS, "frobnicate": True}, workers=workers)
    httpx.get(f"{server.url}/v2/_catalog", headers={"X-Request-Id": "probe-1"})
    assert access_lines(server, "probe-1")
    server.stop()
    entries = [json.loads(line) for line in lines(server.stderr()) + lines(server.stdout())]
    assert all(entry["service"] == "dy" for entry in entries)
    assert any("frobnicate: unknown key" in entry["msg"] for entry in entries)
    assert len({len(entry["time"]) for entry in entries}) == 1
    assert all(entry["time"].endswith("Z") for entry in entries)


def test_json_access_lines_carry_the_request_fields(start_dockyard: StartDockyard) -> None:
    server = start_dockyard(config=JSON_LOGS)
    started = httpx.post(
        f"{server.url}/v2/team/app/blobs/uploads/",
        headers={"X-Request-Id": "req-7", "User-Agent": "crane/0.20"},
    )
    assert started.headers["x-request-id"] == "req-7"
    (line,) = access_lines(server, "req-7")
    entry: dict[str, Any] = json.loads(line)
    assert entry["request_id"] == "req-7"
    assert entry["remote_addr"] == "127.0.0.1"
    assert entry["user"] is None
    assert entry["method"] == "POST"
    assert entry["path"] == "/v2/team/app/blobs/uploads/"
    assert entry["status"] == 202
    assert entry["bytes_in"] == 0
    assert entry["bytes_out"] == 0
    assert entry["duration_ms"] >= 0
    assert entry["user_agent"] == "crane/0.20"
    assert entry["repository"] == "team/app"


def test_a_decoded_newline_in_a_path_cannot_forge_an_access_line(
    start_dockyard: StartDockyard,
) -> None:
    server = start_dockyard()
    httpx.get(f"{server.url}/v2/%0a127.0.0.1%20-%20-%20FAKE%20LINE/tags/list")
    (line,) = access_lines(server, "FAKE")
    assert '"GET /v2/%0a127.0.0.1%20-%20-%20FAKE%20LINE/tags/list HTTP/1.1" 400' in line


def test_the_upload_state_token_never_reaches_the_logs(start_dockyard: StartDockyard) -> None:
    server = start_dockyard(config={"log": {"level": "debug"}})
    location = httpx.post(f"{server.url}/v2/app/blobs/uploads/").headers["location"]
    httpx.get(location, headers={"X-Request-Id": "status-1"})
    assert access_lines(server, "status-1")
    server.stop()
    state = httpx.URL(location).params["_state"]
    assert state not in server.stdout() + server.stderr()
