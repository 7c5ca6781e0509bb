"""``StorageDriver.blocking_files`` of the filesystem driver, the one built-in driver that
offers them: they agree with its async interface. (That the others offer none, so their
stores take the async path, is part of the shared suite.)"""

from __future__ import annotations

import asyncio

import pytest

from dockyard.storage.driver.base import (
    BlockingFiles,
    Durability,
    InvalidOffset,
    InvalidPath,
    PathNotFound,
    StorageDriver,
)

MiB = 1 << 20

pytestmark = pytest.mark.parametrize("driver_name", ["filesystem"])


@pytest.fixture
def files(driver: StorageDriver) -> BlockingFiles:
    offered = driver.blocking_files()
    assert offered is not None
    return offered


async def test_put_is_read_back_by_the_async_interface(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await asyncio.to_thread(files.put, "/a/b/link", b"sha256:abc")
    assert await driver.get_content("/a/b/link") == b"sha256:abc"
    assert await asyncio.to_thread(files.read, "/a/b/link") == b"sha256:abc"
    assert await asyncio.to_thread(files.size, "/a/b/link") == 10


@pytest.mark.parametrize("durability", ["content", "none"])
async def test_put_of_lesser_durability_is_read_back_alike(
    driver: StorageDriver, files: BlockingFiles, durability: Durability
) -> None:
    await driver.put_content("/up/startedat", b"old")
    await asyncio.to_thread(files.put, "/up/startedat", b"2026-01-01T00:00:00Z", durability)
    assert await driver.get_content("/up/startedat") == b"2026-01-01T00:00:00Z"
    assert await driver.list("/up") == ["/up/startedat"]


async def test_put_replaces_content(driver: StorageDriver, files: BlockingFiles) -> None:
    await driver.put_content("/a/link", b"old content")
    await asyncio.to_thread(files.put, "/a/link", b"new")
    assert await driver.get_content("/a/link") == b"new"


async def test_read_returns_whole_content_larger_than_one_read(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    content = bytes(range(256)) * (MiB // 256) + b"tail"
    await driver.put_content("/big", content)
    assert await asyncio.to_thread(files.read, "/big") == content


async def test_read_and_size_answer_none_for_folders_and_missing_files(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await driver.put_content("/dir/file", b"x")
    for path in ("/dir", "/missing", "/dir/file/below"):
        assert await asyncio.to_thread(files.read, path) is None
        assert await asyncio.to_thread(files.size, path) is None


async def test_names_lists_children_sorted_and_none_for_no_folder(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await driver.put_content("/dir/b", b"1")
    await driver.put_content("/dir/a/deep", b"2")
    assert await asyncio.to_thread(files.names, "/dir") == ["a", "b"]
    assert await asyncio.to_thread(files.names, "/missing") is None
    assert await asyncio.to_thread(files.names, "/dir/b") is None


async def test_names_hides_content_still_being_written(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await driver.put_content("/dir/done", b"1")
    writer = await driver.writer("/dir/pending")
    await writer.write(b"partial")
    await writer.close()
    assert await asyncio.to_thread(files.names, "/dir") == ["done"]


async def test_delete_removes_a_tree_and_answers_false_for_nothing(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await driver.put_content("/tree/a/b", b"1")
    await driver.put_content("/tree/c", b"2")
    await driver.put_content("/kept", b"3")
    assert await asyncio.to_thread(files.delete, "/tree") is True
    with pytest.raises(PathNotFound):
        await driver.stat("/tree")
    assert await asyncio.to_thread(files.delete, "/tree") is False
    assert await driver.get_content("/kept") == b"3"


async def test_delete_of_a_file_leaves_its_siblings(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await driver.put_content("/dir/a", b"1")
    await driver.put_content("/dir/b", b"2")
    assert await asyncio.to_thread(files.delete, "/dir/a") is True
    assert await driver.list("/dir") == ["/dir/b"]


async def test_writer_content_is_invisible_until_commit(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    def write_and_close() -> int:
        writer = files.writer("/up/data")
        writer.write(b"hello ")
        writer.write(b"world")
        writer.close()
        return writer.size

    assert await asyncio.to_thread(write_and_close) == 11
    with pytest.raises(PathNotFound):
        await driver.stat("/up/data")

    def resume_and_commit() -> None:
        writer = files.writer("/up/data", append=True)
        assert writer.size == 11
        writer.write(b"!")
        writer.commit()

    await asyncio.to_thread(resume_and_commit)
    assert await driver.get_content("/up/data") == b"hello world!"


async def test_writer_resumes_what_an_async_writer_closed_and_the_other_way(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    writer = await driver.writer("/up/data")
    await writer.write(b"async, ")
    await writer.close()

    def append_blocking() -> None:
        blocking = files.writer("/up/data", append=True)
        blocking.write(b"blocking, ")
        blocking.close()

    await asyncio.to_thread(append_blocking)
    writer = await driver.writer("/up/data", append=True)
    assert writer.size == 17
    await writer.write(b"async")
    await writer.commit()
    assert await driver.get_content("/up/data") == b"async, blocking, async"


async def test_writer_append_without_content_raises_path_not_found(
    files: BlockingFiles,
) -> None:
    with pytest.raises(PathNotFound):
        await asyncio.to_thread(files.writer, "/up/data", True)


async def test_writer_commit_to_a_destination_publishes_there_only(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await driver.put_content("/up/startedat", b"now")

    def write_and_commit() -> None:
        writer = files.writer("/up/data")
        writer.write(b"blob bytes")
        writer.commit("/blobs/ab/abc/data")

    await asyncio.to_thread(write_and_commit)
    assert await driver.get_content("/blobs/ab/abc/data") == b"blob bytes"
    with pytest.raises(PathNotFound):
        await driver.stat("/up/data")
    with pytest.raises(PathNotFound):
        await driver.writer("/up/data", append=True)
    assert await driver.list("/up") == ["/up/startedat"]


async def test_writer_commit_to_a_destination_replaces_its_content(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    await driver.put_content("/blobs/data", b"old")

    def write_and_commit() -> None:
        writer = files.writer("/up/data")
        writer.write(b"new")
        writer.commit("/blobs/data")

    await asyncio.to_thread(write_and_commit)
    assert await driver.get_content("/blobs/data") == b"new"


async def test_writer_truncate_drops_the_tail_and_refuses_growth(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    def truncate_and_commit() -> None:
        writer = files.writer("/up/data")
        writer.write(b"keep-drop")
        with pytest.raises(InvalidOffset):
            writer.truncate(100)
        writer.truncate(4)
        assert writer.size == 4
        writer.write(b"!")
        writer.commit()

    await asyncio.to_thread(truncate_and_commit)
    assert await driver.get_content("/up/data") == b"keep!"


async def test_writer_cancel_discards_content_of_earlier_writers_too(
    driver: StorageDriver, files: BlockingFiles
) -> None:
    writer = await driver.writer("/up/data")
    await writer.write(b"earlier")
    await writer.close()

    def append_and_cancel() -> None:
        blocking = files.writer("/up/data", append=True)
        blocking.write(b" later")
        blocking.cancel()

    await asyncio.to_thread(append_and_cancel)
    with pytest.raises(PathNotFound):
        await driver.writer("/up/data", append=True)
    with pytest.raises(PathNotFound):
        await driver.stat("/up")


async def test_closed_writer_refuses_more_writes(files: BlockingFiles) -> None:
    def write_after_close() -> None:
        writer = files.writer("/up/data")
        writer.close()
        with pytest.raises(ValueError, match="closed"):
            writer.write(b"late")

    await asyncio.to_thread(write_after_close)


async def test_writes_check_their_paths(files: BlockingFiles) -> None:
    for bad in ("/a/../b", "relative", "/a//b", "/a/b#partial"):
        with pytest.raises(InvalidPath):
            await asyncio.to_thread(files.put, bad, b"x")
        with pytest.raises(InvalidPath):
            await asyncio.to_thread(files.writer, bad)
