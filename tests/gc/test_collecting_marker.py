"""Writers see a collection that starts, at once, even where reads are answered from memory."""

from __future__ import annotations

from pathlib import Path

from gc_helpers import InterleavingDriver

from dockyard.gc.guard import collecting
from dockyard.storage import paths
from dockyard.storage.driver.filesystem import FilesystemDriver


async def test_a_collection_started_after_many_looks_is_seen_by_the_next_look(
    driver: InterleavingDriver,
) -> None:
    for _ in range(3):
        assert not await collecting(driver)
    await driver.put_content(paths.gc_marker("run-1"), b"")
    assert await collecting(driver)


async def test_a_finished_collection_is_no_longer_seen(driver: InterleavingDriver) -> None:
    await driver.put_content(paths.gc_marker("run-1"), b"")
    for _ in range(3):
        assert await collecting(driver)
    await driver.delete(paths.gc_marker("run-1"))
    assert not await collecting(driver)


async def test_a_collection_another_process_starts_is_seen_by_the_next_look(
    tmp_path: Path,
) -> None:
    driver = FilesystemDriver(tmp_path / "root")
    try:
        await driver.put_content("/placeholder", b"")
        for _ in range(3):
            assert not await collecting(driver)
        marker = tmp_path / "root" / paths.gc_marker("run-1").lstrip("/")
        marker.parent.mkdir(parents=True)
        marker.write_bytes(b"")
        assert await collecting(driver)
    finally:
        await driver.close()
