"""Deleting a whole repository: ``dockyard repo delete`` and the API extension."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import bcrypt
import httpx
import pytest
from e2e_processes import clean_environment
from gc_helpers import StartServer
from storage_helpers import push_image

from dockyard.api.app import _access
from dockyard.api.routes import Endpoint
from dockyard.auth.base import Access
from dockyard.digest import Digest
from dockyard.errors import NameUnknown
from dockyard.maintenance.repositories import delete_repository
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry


async def tagged_image(registry: StorageRegistry, name: str, seed: bytes) -> list[Digest]:
    repo = registry.repository(name)
    body, config, layer = await push_image(repo, seed)
    await repo.tags.tag("v1", Digest.of(body))
    return [Digest.of(body), config.digest, layer.digest]


async def test_deleted_repository_leaves_the_catalog_and_a_nested_one_stays(
    registry: StorageRegistry,
) -> None:
    await tagged_image(registry, "team/app", b"outer")
    await tagged_image(registry, "team/app/nested", b"inner")
    await registry.delete_repository("team/app")
    assert (await registry.catalog()).items == ["team/app/nested"]
    assert await registry.repository("team/app").tags.current() == {}
    assert "v1" in await registry.repository("team/app/nested").tags.current()


async def test_content_of_a_deleted_repository_goes_at_the_next_collection(
    registry: StorageRegistry,
) -> None:
    doomed = await tagged_image(registry, "doomed", b"doomed")
    kept = await tagged_image(registry, "kept", b"kept")
    await registry.delete_repository("doomed")
    result = await collect_garbage(registry.driver)
    assert sorted(result.blobs_deleted) == sorted(doomed)
    for digest in kept:
        await registry.blob_store.stat(digest)


async def test_deleting_an_unknown_repository_is_name_unknown(registry: StorageRegistry) -> None:
    with pytest.raises(NameUnknown):
        await delete_repository(registry.driver, "never/pushed")


def test_the_api_extension_needs_the_delete_action_on_that_repository() -> None:
    assert _access(Endpoint.REPOSITORY, "team/app", "DELETE") == [
        Access("repository", "team/app", ("delete",))
    ]


def fill(root: Path, name: str) -> None:
    async def run() -> None:
        driver = FilesystemDriver(root)
        await tagged_image(StorageRegistry(driver), name, name.encode())
        await driver.close()

    asyncio.run(run())


def test_delete_over_http_answers_202_and_the_repository_is_gone(
    tmp_path: Path, start_server: StartServer
) -> None:
    fill(tmp_path / "root", "team/app")
    server = start_server(tmp_path / "root", name="repo-delete", storage={})
    deleted = httpx.delete(f"{server.url}/v2/_dockyard/repositories/team/app")
    assert deleted.status_code == 202
    tags = httpx.get(f"{server.url}/v2/team/app/tags/list")
    assert (tags.status_code, tags.json()["errors"][0]["code"]) == (404, "NAME_UNKNOWN")
    assert httpx.get(f"{server.url}/v2/_catalog").json()["repositories"] == []


def test_delete_over_http_of_an_unknown_repository_is_name_unknown(
    tmp_path: Path, start_server: StartServer
) -> None:
    server = start_server(tmp_path / "root", name="repo-unknown", storage={})
    response = httpx.delete(f"{server.url}/v2/_dockyard/repositories/no/such")
    assert (response.status_code, response.json()["errors"][0]["code"]) == (404, "NAME_UNKNOWN")


def test_delete_over_http_is_refused_when_deletes_are_disabled(
    tmp_path: Path, start_server: StartServer
) -> None:
    fill(tmp_path / "root", "app")
    server = start_server(
        tmp_path / "root", name="repo-disabled", storage={"delete": {"enabled": False}}
    )
    response = httpx.delete(f"{server.url}/v2/_dockyard/repositories/app")
    assert (response.status_code, response.json()["errors"][0]["code"]) == (405, "UNSUPPORTED")
    assert httpx.get(f"{server.url}/v2/app/tags/list").json()["tags"] == ["v1"]


def test_delete_over_http_needs_credentials_when_auth_is_configured(
    tmp_path: Path, start_server: StartServer
) -> None:
    fill(tmp_path / "root", "app")
    users = tmp_path / "htpasswd"
    users.write_text(f"alice:{bcrypt.hashpw(b'wonderland', bcrypt.gensalt(4)).decode()}\n")
    server = start_server(
        tmp_path / "root",
        name="repo-auth",
        storage={},
        config={"auth": {"htpasswd": {"realm": "dy", "path": str(users)}}},
    )
    url = f"{server.url}/v2/_dockyard/repositories/app"
    assert httpx.delete(url).status_code == 401
    assert httpx.delete(url, auth=("alice", "wonderland")).status_code == 202


def test_repo_delete_command_deletes_the_repository(tmp_path: Path) -> None:
    fill(tmp_path / "root", "team/app")
    config = tmp_path / "config.yml"
    config.write_text(
        f"version: 0.1\nhttp: {{secret: s3cr3t}}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'root'}}}}}\n"
    )
    command = [sys.executable, "-m", "dockyard.cli", "repo", "delete", "team/app", str(config)]
    done = subprocess.run(
        command, env=clean_environment(), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    again = subprocess.run(
        command, env=clean_environment(), capture_output=True, text=True, check=False
    )
    assert again.returncode == 1
    assert "repository team/app is unknown" in again.stderr
