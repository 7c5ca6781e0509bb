"""Request ids and the access log: one line per request, tied to it, never a secret."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from api_helpers import SECRET, digest_of, push_blob, relative
from auth_helpers import build_authorizer

from dockyard.api.app import create_app
from dockyard.api.settings import ApiSettings
from dockyard.logs import JsonFormatter, RequestIdFilter, TextFormatter
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry

BASE_URL = "http://registry.test"


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "dockyard.access"]


async def test_access_log_uses_the_combined_log_format(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger="dockyard.access"):
        await http.get(
            "/v2/app/tags/list", headers={"User-Agent": "crane/0.20", "Referer": "http://x/"}
        )
    (record,) = access_records(caplog)
    line = record.getMessage()
    assert line.startswith("127.0.0.1 - - [")
    assert '] "GET /v2/app/tags/list HTTP/1.1" 404 ' in line
    assert '"http://x/" "crane/0.20" request_id=' in line


async def test_access_log_records_repository_bytes_and_duration(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger="dockyard.access"):
        await push_blob(http, "team/app", b"twelve bytes")
    fields = [json.loads(JsonFormatter().format(r)) for r in access_records(caplog)]
    put = next(f for f in fields if f["method"] == "PUT")
    assert put["repository"] == "team/app"
    assert put["bytes_in"] == len(b"twelve bytes")
    assert put["status"] == 201
    assert put["duration_ms"] >= 0
    post = next(f for f in fields if f["method"] == "POST")
    assert post["bytes_out"] == 0
    assert post["remote_addr"] == "127.0.0.1"


async def test_access_log_names_the_authenticated_user(
    registry: StorageRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    users = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"correct-horse", bcrypt.gensalt(4)).decode()
    users.write_text(f"alice:{hashed}\n")
    authorizer = build_authorizer({"htpasswd": {"path": str(users)}}, data_dir=tmp_path)
    app = create_app(registry, ApiSettings(secret=SECRET, access_log=True), authorizer)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        with caplog.at_level(logging.INFO, logger="dockyard.access"):
            await http.get("/v2/app/tags/list", auth=("alice", "correct-horse"))
    (record,) = access_records(caplog)
    assert record.getMessage().startswith("127.0.0.1 - alice [")
    assert json.loads(JsonFormatter().format(record))["user"] == "alice"


async def test_access_log_leaves_out_the_upload_state_token(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger="dockyard.access"):
        started = await http.post("/v2/app/blobs/uploads/")
        location = started.headers["location"]
        await http.get(relative(location))
        await http.put(relative(location, digest=digest_of(b"")), content=b"")
    state = httpx.URL(location).params["_state"]
    assert state
    logged = "\n".join(
        TextFormatter().format(r) + JsonFormatter().format(r) for r in access_records(caplog)
    )
    assert state not in logged
    assert "_state" not in logged
    assert "digest=sha256" in logged


async def test_control_characters_in_a_path_cannot_forge_a_line(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client(access_log=True)
    forged = "/v2/%0a127.0.0.1%20-%20-%20FAKE%20LINE/tags/list"
    with caplog.at_level(logging.INFO, logger="dockyard.access"):
        await http.get(forged, headers={"User-Agent": "evil\r\nFAKE"})
    (record,) = access_records(caplog)
    text = TextFormatter().format(record)
    assert "\n" not in text
    assert "\r" not in text
    assert "%0a127.0.0.1" in text


def test_text_formatter_escapes_control_characters_in_messages() -> None:
    record = logging.LogRecord("x", logging.WARNING, "f", 1, "name %s", ("a\nb\x1b[31m",), None)
    assert TextFormatter().format(record).endswith("x: name a\\x0ab\\x1b[31m")


def test_json_formatter_writes_one_line_with_fields_and_an_rfc3339_time() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "two\nlines", (), None)
    line = JsonFormatter({"service": "dy"}).format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "two\nlines"
    assert entry["service"] == "dy"
    assert entry["time"].endswith("Z")
    assert entry["time"][10] == "T"


async def test_every_response_carries_a_request_id(make_client: Any) -> None:
    http = make_client()
    first = await http.get("/v2/")
    second = await http.get("/v2/nothing/here/tags/list")
    assert first.headers["x-request-id"]
    assert second.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_blob_download_carries_its_request_id_once(make_client: Any) -> None:
    http = make_client()
    digest = await push_blob(http, "team/app", b"some layer bytes")
    answer = await http.get(f"/v2/team/app/blobs/{digest}", headers={"X-Request-Id": "dl-1"})
    assert answer.status_code == 200
    assert answer.headers.get_list("x-request-id") == ["dl-1"]


async def test_a_path_outside_the_api_carries_a_request_id(make_client: Any) -> None:
    http = make_client()
    answer = await http.get("/not/the/api", headers={"X-Request-Id": "elsewhere-7"})
    assert answer.status_code == 404
    assert answer.headers.get_list("x-request-id") == ["elsewhere-7"]


async def test_an_api_error_carries_its_request_id_once(make_client: Any) -> None:
    http = make_client()
    answer = await http.get("/v2/nothing/here/tags/list", headers={"X-Request-Id": "e-1"})
    assert answer.status_code == 404
    assert answer.headers.get_list("x-request-id") == ["e-1"]


async def test_with_the_access_log_on_a_response_carries_its_request_id_once(
    make_client: Any,
) -> None:
    http = make_client(access_log=True)
    answer = await http.get("/v2/", headers={"X-Request-Id": "logged-1"})
    assert answer.headers.get_list("x-request-id") == ["logged-1"]


async def test_a_request_id_from_the_client_is_kept(make_client: Any) -> None:
    http = make_client()
    answer = await http.get("/v2/", headers={"X-Request-Id": "lb-1234.abc"})
    assert answer.headers["x-request-id"] == "lb-1234.abc"


async def test_a_request_id_that_would_need_escaping_is_replaced(make_client: Any) -> None:
    http = make_client()
    answer = await http.get("/v2/", headers={"X-Request-Id": "a b\tc"})
    assert answer.headers["x-request-id"] not in ("a b\tc", "")


async def test_no_access_log_unless_enabled(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client()
    with caplog.at_level(logging.INFO, logger="dockyard.access"):
        await http.get("/v2/")
    assert not access_records(caplog)


async def test_access_log_never_contains_authorization(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http = make_client(access_log=True)
    with caplog.at_level(logging.DEBUG):
        await http.get("/v2/", headers={"Authorization": "Basic c2VjcmV0OnNlY3JldA=="})
    assert "c2VjcmV0OnNlY3JldA" not in caplog.text


# --- storage failures -----------------------------------------------------------------------


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of its own, to remount read-only as an operator's storage might be."""
    root = tmp_path / "mnt"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(root)], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture
async def mounted_client(mount: Path) -> AsyncIterator[httpx.AsyncClient]:
    driver = FilesystemDriver(mount / "registry")
    app = create_app(StorageRegistry(driver), ApiSettings(secret=SECRET))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            yield http
    finally:
        await driver.close()


def remount_read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


async def test_a_read_only_storage_answers_503_unavailable_without_paths(
    mounted_client: httpx.AsyncClient, mount: Path
) -> None:
    await push_blob(mounted_client, "app", b"before")
    remount_read_only(mount)
    answer = await mounted_client.post("/v2/app/blobs/uploads/")
    assert answer.status_code == 503
    (error,) = answer.json()["errors"]
    assert error["code"] == "UNAVAILABLE"
    assert str(mount) not in answer.text
    assert "Read-only" not in answer.text


async def test_a_read_only_storage_still_serves_reads(
    mounted_client: httpx.AsyncClient, mount: Path
) -> None:
    digest = await push_blob(mounted_client, "app", b"before")
    remount_read_only(mount)
    answer = await mounted_client.get(f"/v2/app/blobs/{digest}")
    assert answer.status_code == 200
    assert answer.content == b"before"


async def test_a_failing_storage_operation_is_logged_once_with_its_request(
    mounted_client: httpx.AsyncClient, mount: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remount_read_only(mount)
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.DEBUG):
        answer = await mounted_client.post(
            "/v2/team/app/blobs/uploads/", headers={"X-Request-Id": "req-42"}
        )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    (record,) = errors
    message = record.getMessage()
    assert "POST /v2/team/app/blobs/uploads/" in message
    assert "repository=team/app" in message
    assert "Read-only file system (EROFS)" in message
    assert record.exc_info is None
    assert record.request_id == answer.headers["x-request-id"] == "req-42"


async def test_an_upload_cut_off_by_a_read_only_remount_answers_503_unavailable(
    mounted_client: httpx.AsyncClient, mount: Path
) -> None:
    started = await mounted_client.post("/v2/app/blobs/uploads/")
    assert started.status_code == 202
    remount_read_only(mount)
    data = b"layer bytes" * 1000
    answer = await mounted_client.put(
        relative(started.headers["location"], digest=digest_of(data)), content=data
    )
    assert answer.status_code == 503
    assert answer.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert str(mount) not in answer.text
