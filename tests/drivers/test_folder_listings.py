"""Folder listings kept by the filesystem driver: exact across instances, read again on change."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.storage.driver.filesystem import FilesystemDriver, folder_listings
from dockyard.storage.driver.filesystem.folder_listings import FolderListings


async def settle(folder: Path) -> None:
    """Wait until ``folder`` last changed long enough ago for its listing to be kept."""
    while True:
        st = folder.stat()
        if folder_listings.is_settled(st.st_ctime_ns, st.st_mtime_ns, time.time_ns()):
            return
        await asyncio.sleep(0.05)


@pytest.fixture
def folder_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder ``os.listdir`` reads during the test."""
    reads: list[str] = []
    real_listdir: Callable[[str], list[str]] = os.listdir

    def counting_listdir(path: str) -> list[str]:
        reads.append(path)
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", counting_listdir)
    return reads


async def settled_folder(tmp_path: Path, *names: str) -> Path:
    """A folder holding ``names`` that last changed long enough ago for its listing to be kept."""
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in names:
        (folder / name).mkdir()
    await settle(folder)
    return folder


async def test_settled_folder_is_listed_once_then_checked_by_stat(
    tmp_path: Path, folder_reads: list[str]
) -> None:
    folder = await settled_folder(tmp_path, "b", "a")
    listings = FolderListings()
    assert listings.names(str(folder)) == ["a", "b"]
    assert listings.names(str(folder)) == ["a", "b"]
    assert folder_reads == [str(folder)]


async def test_entries_added_and_removed_elsewhere_show_at_once(
    tmp_path: Path, folder_reads: list[str]
) -> None:
    folder = await settled_folder(tmp_path, "a", "b")
    listings = FolderListings()
    assert listings.names(str(folder)) == ["a", "b"]
    (folder / "c").mkdir()
    assert listings.names(str(folder)) == ["a", "b", "c"]
    (folder / "a").rmdir()
    assert listings.names(str(folder)) == ["b", "c"]


async def test_recently_changed_folder_is_read_every_time(
    tmp_path: Path, folder_reads: list[str]
) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    (folder / "a").mkdir()
    listings = FolderListings()
    for _ in range(3):
        assert listings.names(str(folder)) == ["a"]
    assert folder_reads == [str(folder)] * 3


async def test_removed_and_recreated_folder_is_read_again(tmp_path: Path) -> None:
    folder = await settled_folder(tmp_path, "a")
    listings = FolderListings()
    assert listings.names(str(folder)) == ["a"]
    (folder / "a").rmdir()
    folder.rmdir()
    assert listings.names(str(folder)) is None
    folder.mkdir()
    (folder / "b").mkdir()
    assert listings.names(str(folder)) == ["b"]


async def test_least_recently_used_listing_is_dropped_beyond_capacity(
    tmp_path: Path, folder_reads: list[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        (folder / "x").mkdir(parents=True)
        (folder / "y").mkdir()
        await settle(folder)
    # Room for one folder of two names.
    listings = FolderListings(folder_listings.listing_charge(str(second), ["x", "y"]))
    listings.names(str(first))
    listings.names(str(second))
    listings.names(str(first))
    assert folder_reads == [str(first), str(second), str(first)]


async def test_returned_names_are_the_callers_own(tmp_path: Path) -> None:
    folder = await settled_folder(tmp_path, "a")
    listings = FolderListings()
    listings.names(str(folder))
    kept = listings.names(str(folder))
    assert kept is not None
    kept.append("mutated")
    assert listings.names(str(folder)) == ["a"]


async def test_file_or_missing_folder_is_none(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    listings = FolderListings()
    assert listings.names(str(tmp_path / "file")) is None
    assert listings.names(str(tmp_path / "missing")) is None


async def test_second_driver_instance_sees_tags_the_first_has_listed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    reader, writer = FilesystemDriver(root), FilesystemDriver(root)
    await writer.put_content("/tags/a/current/link", b"x")
    await settle(root / "tags")
    assert await reader.list_names(["/tags"]) == [["a"]]
    await writer.put_content("/tags/b/current/link", b"x")
    assert await reader.list_names(["/tags"]) == [["a", "b"]]
    await writer.delete("/tags/a")
    assert await reader.list_names(["/tags"]) == [["b"]]


def test_folder_changed_within_the_margin_is_not_settled() -> None:
    changed = 10**10 + 4_000_000
    assert not folder_listings.is_settled(changed, changed, changed + 100_000_000)
    assert folder_listings.is_settled(changed, changed, changed + 300_000_000)


def test_whole_second_times_need_the_longer_margin() -> None:
    changed = 10**10
    assert not folder_listings.is_settled(changed, changed, changed + 2 * 10**9)
    assert folder_listings.is_settled(changed, changed, changed + 4 * 10**9)


async def test_folder_larger_than_the_capacity_is_not_kept(
    tmp_path: Path, folder_reads: list[str]
) -> None:
    folder = await settled_folder(tmp_path, "a", "b", "c")
    listings = FolderListings(folder_listings.listing_charge(str(folder), ["a", "b", "c"]) - 1)
    assert listings.names(str(folder)) == ["a", "b", "c"]
    assert listings.names(str(folder)) == ["a", "b", "c"]
    assert folder_reads == [str(folder)] * 2
