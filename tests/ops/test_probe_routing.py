"""The probes are answered at the root ahead of every layer: no prefix, no credentials."""

from __future__ import annotations

from pathlib import Path

import httpx

from dockyard import config as configuration
from dockyard.assembly import build_app


def _app(tmp_path: Path, **http: object) -> httpx.AsyncClient:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("")
    tree = {
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "root")}},
        "http": {"secret": "probe-test-secret", **http},
        "auth": {"htpasswd": {"realm": "test", "path": str(htpasswd)}},
    }
    app = build_app(configuration.from_dict(tree, {}, cwd=tmp_path))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r.test")


async def test_the_live_probe_is_answered_at_the_root_under_a_prefix_without_credentials(
    tmp_path: Path,
) -> None:
    async with _app(tmp_path, prefix="/registry") as client:
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/registry/v2/")).status_code == 401


async def test_the_ready_probe_reports_checks_not_yet_run_without_credentials(
    tmp_path: Path,
) -> None:
    async with _app(tmp_path, prefix="/registry") as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"storagedriver": "not checked yet"}


async def test_a_probe_path_with_another_method_is_not_a_probe(tmp_path: Path) -> None:
    async with _app(tmp_path) as client:
        assert (await client.post("/livez")).status_code != 200


async def test_a_live_probe_answers_an_empty_json_object(tmp_path: Path) -> None:
    async with _app(tmp_path) as client:
        answer = await client.get("/livez")
    assert answer.status_code == 200
    assert answer.json() == {}
