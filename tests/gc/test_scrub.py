"""Scrubbing: what it finds, what ``--repair`` mends, and resuming after an interruption."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from e2e_images import OciLayout
from e2e_processes import clean_environment, copy
from gc_helpers import InterleavingDriver, StartServer
from storage_helpers import push_blob, push_image

from dockyard.digest import Digest
from dockyard.errors import BlobUnknown
from dockyard.scrub.journal import journals
from dockyard.scrub.scrub import QUARANTINE, scrub
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.registry import StorageRegistry

LAYER = b"layer bytes corrupt"


async def corrupt_one_byte(driver: StorageDriver, digest: Digest) -> None:
    data = bytearray(await driver.get_content(paths.blob_data(digest)))
    data[0] ^= 0x01
    await driver.put_content(paths.blob_data(digest), bytes(data))


async def image_with_corrupt_layer(registry: StorageRegistry) -> Digest:
    repo = registry.repository("app")
    body, _, layer = await push_image(repo, b"corrupt")
    await repo.tags.tag("v1", Digest.of(body))
    await corrupt_one_byte(registry.driver, layer.digest)
    return layer.digest


async def test_one_byte_corruption_is_found_by_digest_check(registry: StorageRegistry) -> None:
    layer = await image_with_corrupt_layer(registry)
    result = await scrub(registry.driver, check="digests")
    assert [(p.kind, p.repository, p.subject) for p in result.problems] == [
        ("corrupt", "app", str(layer))
    ]
    assert not result.problems[0].repaired


async def test_size_check_does_not_read_content(registry: StorageRegistry) -> None:
    await image_with_corrupt_layer(registry)
    result = await scrub(registry.driver, check="sizes")
    assert (result.problems, result.bytes_hashed) == ([], 0)


async def test_repair_quarantines_corrupt_content_and_the_next_push_uploads_it_again(
    registry: StorageRegistry,
) -> None:
    layer = await image_with_corrupt_layer(registry)
    result = await scrub(registry.driver, check="digests", repair=True)
    assert [p.repaired for p in result.problems] == [True]
    repo = registry.repository("app")
    with pytest.raises(BlobUnknown):
        await repo.blobs.stat(layer)
    again = await push_blob(repo, b"layer bytes corrupt")
    assert again.digest == layer
    assert await registry.driver.get_content(paths.blob_data(layer)) == LAYER
    assert (await scrub(registry.driver, check="digests")).problems == []


async def test_repair_is_journaled_with_where_the_content_went(
    registry: StorageRegistry,
) -> None:
    layer = await image_with_corrupt_layer(registry)
    await scrub(registry.driver, check="digests", repair=True)
    (journal,) = await journals(registry.driver)
    assert journal.complete
    (repair,) = journal.repairs
    assert (repair.repository, repair.digest, repair.kind, repair.state) == (
        "app",
        str(layer),
        "corrupt",
        "done",
    )
    assert repair.quarantine is not None
    assert await registry.driver.get_content(repair.quarantine) != LAYER


class Interrupted(Exception):
    pass


async def _interrupt() -> None:
    raise Interrupted


@pytest.mark.parametrize("when", ["before", "after"])
async def test_repair_interrupted_around_its_quarantine_is_finished_by_the_next_repairing_scrub(
    registry: StorageRegistry, driver: InterleavingDriver, when: str
) -> None:
    layer = await image_with_corrupt_layer(registry)
    driver.at(when, "move", lambda path: path.startswith(QUARANTINE + "/"), _interrupt)
    with pytest.raises(Interrupted):
        await scrub(driver, check="digests", repair=True)
    (left,) = await journals(driver)
    assert (left.complete, [r.state for r in left.repairs]) == (False, ["intended"])

    resumed = await scrub(driver, check="digests", repair=True)
    assert resumed.repairs_resumed == 1
    assert [p.subject for p in resumed.problems if p.repaired] == [str(layer)]
    with pytest.raises(BlobUnknown):
        await registry.repository("app").blobs.stat(layer)
    old, new = await journals(driver)
    assert (old.complete, old.resumed_by, new.resumed) == (True, new.name, [old.name])
    # What is left is the manifest naming a blob the next push uploads again.
    assert [p.kind for p in (await scrub(driver, check="digests")).problems] == ["manifest"]


async def test_tag_pointing_at_a_missing_manifest_is_reported(registry: StorageRegistry) -> None:
    repo = registry.repository("app")
    body, _, _ = await push_image(repo, b"tagged")
    await repo.tags.tag("v1", Digest.of(body))
    await registry.driver.delete(paths.manifest_revision_dir("app", Digest.of(body)))
    result = await scrub(registry.driver)
    assert [(p.kind, p.subject) for p in result.problems] == [("tag", "v1")]


async def test_manifest_whose_blob_is_missing_is_reported(registry: StorageRegistry) -> None:
    repo = registry.repository("app")
    body, _, layer = await push_image(repo, b"missing layer")
    await registry.driver.delete(paths.layer_dir("app", layer.digest))
    result = await scrub(registry.driver)
    assert [(p.kind, p.subject) for p in result.problems] == [("manifest", str(Digest.of(body)))]
    assert str(layer.digest) in result.problems[0].detail


async def test_repository_glob_limits_what_is_scrubbed(registry: StorageRegistry) -> None:
    for name in ("team/a", "team/b", "other"):
        await push_image(registry.repository(name), name.encode())
    result = await scrub(registry.driver, repository="team/*")
    assert (result.repositories, result.manifests) == (2, 2)


async def test_interrupted_scrub_resumes_after_the_last_repository_it_finished(
    registry: StorageRegistry,
) -> None:
    for name in ("a", "b", "c"):
        await push_image(registry.repository(name), name.encode())

    def interrupt(name: str, done: int, total: int) -> None:
        if name == "a":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await scrub(registry.driver, progress=interrupt)
    resumed = await scrub(registry.driver)
    assert (resumed.resumed_after, resumed.repositories) == ("a", 2)
    fresh = await scrub(registry.driver)
    assert (fresh.resumed_after, fresh.repositories) == (None, 3)


def test_scrub_repairs_a_corrupt_layer_of_a_served_image_and_a_push_and_pull_heal_it(
    tmp_path: Path, start_server: StartServer
) -> None:
    layout = OciLayout(tmp_path / "layout")
    image = layout.add_image("v1", layers=2)
    root = tmp_path / "root"
    server = start_server(root, name="scrub", storage={})
    copy(layout.ref("v1"), f"docker://{server.host}/app:v1")
    layer = image.layers[0]
    data_file = root / paths.blob_data(Digest.parse(layer)).lstrip("/")
    corrupted = bytearray(data_file.read_bytes())
    corrupted[len(corrupted) // 2] ^= 0xFF
    data_file.write_bytes(bytes(corrupted))

    command = [sys.executable, "-m", "dockyard.cli", "scrub", str(tmp_path / "scrub.yml")]
    env = clean_environment()
    found = subprocess.run(
        [*command, "--check", "digests", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1
    assert [p["subject"] for p in json.loads(found.stdout)["problems"]] == [layer]
    repaired = subprocess.run(
        [*command, "--check", "digests", "--repair"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert httpx.head(f"{server.url}/v2/app/blobs/{layer}").status_code == 404

    copy(layout.ref("v1"), f"docker://{server.host}/app:v1")
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{server.host}/app:v1", pulled.ref("v1"))
    assert pulled.resolve("v1")[0] == image.digest
    assert pulled.blob(layer) == image.all_blobs()[layer]


def test_scheduled_scrub_in_the_server_logs_a_corrupt_blob(
    tmp_path: Path, start_server: StartServer
) -> None:
    layout = OciLayout(tmp_path / "layout")
    image = layout.add_image("v1", layers=1)
    root = tmp_path / "root"
    scrubbing = {"enabled": True, "interval": "1s", "check": "digests", "rate": 0}
    server = start_server(root, name="scheduled", storage={"maintenance": {"scrub": scrubbing}})
    copy(layout.ref("v1"), f"docker://{server.host}/app:v1")
    layer = image.layers[0]
    data_file = root / paths.blob_data(Digest.parse(layer)).lstrip("/")
    data_file.write_bytes(b"X" + data_file.read_bytes()[1:])
    deadline = time.monotonic() + 120  # a bound for a loaded machine, not a rate
    while f"scrub: corrupt app: {layer}" not in server.stderr():
        assert time.monotonic() < deadline, server.stderr()[-2000:]
        time.sleep(0.2)
