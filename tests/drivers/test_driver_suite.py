"""The behaviour every storage driver shares; runs once per driver in ``DRIVER_NAMES``."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.storage.driver.base import (
    FileInfo,
    InvalidOffset,
    InvalidPath,
    PathNotFound,
    StorageDriver,
)

OpenDriver = Callable[[], Awaitable[StorageDriver]]
MiB = 1 << 20


async def read_all(
    driver: StorageDriver, path: str, offset: int = 0, length: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in await driver.reader(path, offset, length)])


async def walk_paths(driver: StorageDriver, path: str, **kwargs: Any) -> list[str]:
    return [info.path async for info in driver.walk(path, **kwargs)]


async def write_committed(driver: StorageDriver, path: str, content: bytes) -> None:
    writer = await driver.writer(path)
    await writer.write(content)
    await writer.commit()


async def write_closed(driver: StorageDriver, path: str, content: bytes) -> None:
    writer = await driver.writer(path)
    await writer.write(content)
    await writer.close()


async def populate(driver: StorageDriver, *paths: str) -> None:
    for path in paths:
        await driver.put_content(path, path.encode())


# --- put_content / get_content ------------------------------------------------------------


async def test_put_then_get_content_returns_the_bytes(driver: StorageDriver) -> None:
    await driver.put_content("/a/b/c", b"hello")
    assert await driver.get_content("/a/b/c") == b"hello"


async def test_put_empty_content_stores_an_empty_file(driver: StorageDriver) -> None:
    await driver.put_content("/empty", b"")
    assert await driver.get_content("/empty") == b""
    assert (await driver.stat("/empty")).size == 0


async def test_put_binary_content_round_trips_every_byte_value(driver: StorageDriver) -> None:
    content = bytes(range(256)) * 64
    await driver.put_content("/binary", content)
    assert await driver.get_content("/binary") == content


async def test_put_content_overwrites_existing_content(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"a much longer first version")
    await driver.put_content("/file", b"short")
    assert await driver.get_content("/file") == b"short"


async def test_get_missing_content_raises_path_not_found(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.get_content("/missing")


async def test_get_content_of_a_directory_raises_path_not_found(driver: StorageDriver) -> None:
    await driver.put_content("/dir/file", b"x")
    with pytest.raises(PathNotFound):
        await driver.get_content("/dir")


async def test_path_not_found_message_does_not_reveal_the_path(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound) as caught:
        await driver.get_content("/secret/location")
    assert "secret" not in str(caught.value)


# --- reader -------------------------------------------------------------------------------


async def test_reader_from_start_yields_all_content(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"0123456789")
    assert await read_all(driver, "/file") == b"0123456789"


async def test_reader_from_middle_yields_the_rest(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"0123456789")
    assert await read_all(driver, "/file", 4) == b"456789"


async def test_reader_at_end_yields_nothing(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"0123456789")
    assert await read_all(driver, "/file", 10) == b""


async def test_reader_of_empty_content_yields_nothing(driver: StorageDriver) -> None:
    await driver.put_content("/empty", b"")
    assert await read_all(driver, "/empty") == b""


async def test_reader_past_end_raises_invalid_offset(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"0123456789")
    with pytest.raises(InvalidOffset):
        await driver.reader("/file", 11)


async def test_reader_negative_offset_raises_invalid_offset(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"0123456789")
    with pytest.raises(InvalidOffset):
        await driver.reader("/file", -1)


async def test_reader_with_length_yields_at_most_length_bytes(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"0123456789")
    assert await read_all(driver, "/file", 2, 3) == b"234"


async def test_reader_with_length_beyond_end_stops_at_end(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"0123456789")
    assert await read_all(driver, "/file", 8, 100) == b"89"


async def test_reader_of_missing_path_raises_before_iterating(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.reader("/missing")


async def test_reader_streams_large_content_in_bounded_chunks(driver: StorageDriver) -> None:
    content = os.urandom(5 * MiB + 17)
    await driver.put_content("/large", content)
    chunks = [chunk async for chunk in await driver.reader("/large", 3)]
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= 8 * MiB
    assert b"".join(chunks) == content[3:]


# --- writer -------------------------------------------------------------------------------


async def test_writer_commit_publishes_content(driver: StorageDriver) -> None:
    writer = await driver.writer("/upload/data")
    await writer.write(b"hello ")
    await writer.write(b"world")
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"hello world"


async def test_writer_size_counts_written_bytes(driver: StorageDriver) -> None:
    writer = await driver.writer("/upload/data")
    assert writer.size == 0
    assert await writer.write(b"12345") == 5
    await writer.write(b"678")
    assert writer.size == 8
    await writer.cancel()


async def test_writer_content_is_invisible_until_commit(driver: StorageDriver) -> None:
    await driver.put_content("/upload/startedat", b"now")
    writer = await driver.writer("/upload/data")
    await writer.write(b"pending")
    with pytest.raises(PathNotFound):
        await driver.get_content("/upload/data")
    with pytest.raises(PathNotFound):
        await driver.stat("/upload/data")
    with pytest.raises(PathNotFound):
        await driver.reader("/upload/data")
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"pending"


async def test_writer_closed_content_stays_invisible(driver: StorageDriver) -> None:
    await write_closed(driver, "/upload/data", b"pending")
    with pytest.raises(PathNotFound):
        await driver.get_content("/upload/data")


async def test_writer_append_continues_closed_content(driver: StorageDriver) -> None:
    await write_closed(driver, "/upload/data", b"first ")
    writer = await driver.writer("/upload/data", append=True)
    assert writer.size == 6
    await writer.write(b"second")
    assert writer.size == 12
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"first second"


async def test_writer_append_from_a_second_driver_instance(driver_factory: OpenDriver) -> None:
    first = await driver_factory()
    second = await driver_factory()
    await write_closed(first, "/upload/data", b"written by one ")
    writer = await second.writer("/upload/data", append=True)
    assert writer.size == 15
    await writer.write(b"finished by another")
    await writer.commit()
    assert await first.get_content("/upload/data") == b"written by one finished by another"


async def test_writer_append_across_several_sessions(driver: StorageDriver) -> None:
    await write_closed(driver, "/upload/data", b"a")
    for piece in (b"b", b"c", b"d"):
        writer = await driver.writer("/upload/data", append=True)
        await writer.write(piece)
        await writer.close()
    writer = await driver.writer("/upload/data", append=True)
    assert writer.size == 4
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"abcd"


async def test_writer_append_without_pending_content_raises_path_not_found(
    driver: StorageDriver,
) -> None:
    with pytest.raises(PathNotFound):
        await driver.writer("/upload/data", append=True)


async def test_writer_append_to_committed_content_raises_path_not_found(
    driver: StorageDriver,
) -> None:
    await write_committed(driver, "/upload/data", b"done")
    with pytest.raises(PathNotFound):
        await driver.writer("/upload/data", append=True)


async def test_writer_without_append_discards_pending_content(driver: StorageDriver) -> None:
    await write_closed(driver, "/upload/data", b"stale")
    writer = await driver.writer("/upload/data")
    assert writer.size == 0
    await writer.write(b"fresh")
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"fresh"


async def test_writer_cancel_discards_content(driver: StorageDriver) -> None:
    writer = await driver.writer("/upload/data")
    await writer.write(b"unwanted")
    await writer.cancel()
    with pytest.raises(PathNotFound):
        await driver.get_content("/upload/data")
    with pytest.raises(PathNotFound):
        await driver.writer("/upload/data", append=True)


async def test_writer_cancel_discards_content_of_earlier_writers(driver: StorageDriver) -> None:
    await write_closed(driver, "/upload/data", b"earlier")
    writer = await driver.writer("/upload/data", append=True)
    await writer.write(b" later")
    await writer.cancel()
    with pytest.raises(PathNotFound):
        await driver.writer("/upload/data", append=True)


async def test_writer_cancel_keeps_committed_content(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"committed")
    writer = await driver.writer("/file")
    await writer.write(b"replacement")
    await writer.cancel()
    assert await driver.get_content("/file") == b"committed"


async def test_writer_truncate_then_continue(driver: StorageDriver) -> None:
    writer = await driver.writer("/upload/data")
    await writer.write(b"0123456789")
    await writer.truncate(4)
    assert writer.size == 4
    await writer.write(b"abc")
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"0123abc"


async def test_writer_truncate_after_resuming_drops_unacknowledged_bytes(
    driver: StorageDriver,
) -> None:
    await write_closed(driver, "/upload/data", b"acked-unacked")
    writer = await driver.writer("/upload/data", append=True)
    await writer.truncate(5)
    await writer.write(b"!")
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"acked!"


async def test_writer_truncate_beyond_size_raises_invalid_offset(driver: StorageDriver) -> None:
    writer = await driver.writer("/upload/data")
    await writer.write(b"0123")
    with pytest.raises(InvalidOffset):
        await writer.truncate(5)
    await writer.cancel()


async def test_writer_commit_replaces_existing_content(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"old content that is longer")
    await write_committed(driver, "/file", b"new")
    assert await driver.get_content("/file") == b"new"


async def test_writer_keeps_old_content_readable_until_commit(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"old")
    writer = await driver.writer("/file")
    await writer.write(b"new")
    assert await driver.get_content("/file") == b"old"
    await writer.commit()
    assert await driver.get_content("/file") == b"new"


async def test_writer_commit_without_writes_publishes_empty_content(
    driver: StorageDriver,
) -> None:
    writer = await driver.writer("/empty")
    await writer.commit()
    assert await driver.get_content("/empty") == b""


async def test_many_small_writes_then_commit(driver: StorageDriver) -> None:
    writer = await driver.writer("/upload/data")
    expected = hashlib.sha256()
    for index in range(5000):
        piece = index.to_bytes(4, "big") * 3
        expected.update(piece)
        await writer.write(piece)
    assert writer.size == 5000 * 12
    await writer.commit()
    assert hashlib.sha256(await driver.get_content("/upload/data")).digest() == expected.digest()


async def test_concurrent_writers_on_different_paths(driver: StorageDriver) -> None:
    async def upload(index: int) -> None:
        writer = await driver.writer(f"/uploads/{index}/data")
        for piece in range(10):
            await writer.write(bytes([index]) * (1000 + piece))
            await asyncio.sleep(0)
        await writer.commit()

    await asyncio.gather(*(upload(index) for index in range(8)))
    for index in range(8):
        content = await driver.get_content(f"/uploads/{index}/data")
        assert content == bytes([index]) * sum(1000 + piece for piece in range(10))


async def test_large_content_streams_through_writer_and_reader(driver: StorageDriver) -> None:
    seed = os.urandom(MiB)
    written = hashlib.sha256()
    writer = await driver.writer("/large/data")
    for index in range(64):
        chunk = index.to_bytes(8, "big") + seed[8:]
        written.update(chunk)
        await writer.write(chunk)
    await writer.commit()
    assert (await driver.stat("/large/data")).size == 64 * MiB
    read = hashlib.sha256()
    async for chunk in await driver.reader("/large/data"):
        assert len(chunk) <= 8 * MiB
        read.update(chunk)
    assert read.hexdigest() == written.hexdigest()


async def test_put_content_leaves_pending_writer_content_alone(driver: StorageDriver) -> None:
    await write_closed(driver, "/upload/data", b"pending")
    await driver.put_content("/upload/data", b"committed")
    writer = await driver.writer("/upload/data", append=True)
    assert writer.size == 7
    await writer.commit()
    assert await driver.get_content("/upload/data") == b"pending"


# --- stat ---------------------------------------------------------------------------------


async def test_stat_file_reports_path_size_and_kind(driver: StorageDriver) -> None:
    await driver.put_content("/dir/file", b"12345")
    info = await driver.stat("/dir/file")
    assert (info.path, info.size, info.is_dir) == ("/dir/file", 5, False)


async def test_stat_file_reports_recent_mod_time(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"x")
    mod_time = (await driver.stat("/file")).mod_time
    assert mod_time.tzinfo is not None
    assert abs(datetime.now(UTC) - mod_time) < timedelta(minutes=5)


async def test_stat_directory_reports_is_dir(driver: StorageDriver) -> None:
    await driver.put_content("/dir/sub/file", b"x")
    info = await driver.stat("/dir/sub")
    assert (info.path, info.is_dir) == ("/dir/sub", True)


async def test_stat_root_is_a_directory(driver: StorageDriver) -> None:
    assert (await driver.stat("/")).is_dir


async def test_stat_missing_raises_path_not_found(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.stat("/missing")


# --- list ---------------------------------------------------------------------------------


async def test_list_returns_sorted_full_paths_of_direct_children(driver: StorageDriver) -> None:
    await populate(driver, "/dir/b", "/dir/a/deep/file", "/dir/c", "/dir/B", "/other/x")
    assert await driver.list("/dir") == ["/dir/B", "/dir/a", "/dir/b", "/dir/c"]


async def test_list_root(driver: StorageDriver) -> None:
    await populate(driver, "/b/file", "/a")
    assert await driver.list("/") == ["/a", "/b"]


async def test_list_of_empty_root_returns_nothing(driver: StorageDriver) -> None:
    assert await driver.list("/") == []


async def test_list_missing_directory_raises_path_not_found(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.list("/missing")


async def test_list_of_a_file_raises_path_not_found(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"x")
    with pytest.raises(PathNotFound):
        await driver.list("/file")


async def test_list_omits_uncommitted_content(driver: StorageDriver) -> None:
    await driver.put_content("/upload/startedat", b"now")
    await write_closed(driver, "/upload/data", b"pending")
    assert await driver.list("/upload") == ["/upload/startedat"]


async def test_list_omits_directory_holding_only_uncommitted_content(
    driver: StorageDriver,
) -> None:
    await driver.put_content("/uploads/done/data", b"x")
    await write_closed(driver, "/uploads/pending/data", b"pending")
    assert await driver.list("/uploads") == ["/uploads/done"]


# --- list_names ---------------------------------------------------------------------------


async def test_list_names_returns_sorted_child_names_of_each_path(driver: StorageDriver) -> None:
    await populate(driver, "/dir/b", "/dir/a/deep/file", "/dir/B", "/other/x")
    assert await driver.list_names(["/dir", "/other"]) == [["B", "a", "b"], ["x"]]


async def test_list_names_of_missing_directory_or_file_is_none(driver: StorageDriver) -> None:
    await populate(driver, "/dir/file")
    assert await driver.list_names(["/missing", "/dir/file", "/dir"]) == [None, None, ["file"]]


async def test_list_names_of_root(driver: StorageDriver) -> None:
    assert await driver.list_names(["/"]) == [[]]
    await populate(driver, "/b/file", "/a")
    assert await driver.list_names(["/"]) == [["a", "b"]]


async def test_list_names_of_no_paths_is_empty(driver: StorageDriver) -> None:
    assert await driver.list_names([]) == []


async def test_list_names_omits_uncommitted_files(driver: StorageDriver) -> None:
    await driver.put_content("/upload/startedat", b"now")
    await write_closed(driver, "/upload/data", b"pending")
    assert await driver.list_names(["/upload"]) == [["startedat"]]


async def test_list_names_agrees_with_list_on_committed_trees(driver: StorageDriver) -> None:
    await populate(driver, "/t/x-1/current/link", "/t/x.2/index/link", "/t/X/current/link")
    names = [path.rsplit("/", 1)[-1] for path in await driver.list("/t")]
    assert await driver.list_names(["/t"]) == [names]


async def test_list_names_of_several_folders_answers_each(driver: StorageDriver) -> None:
    await populate(driver, "/dir/b", "/dir/a/deep/file", "/other/x")
    paths = ["/dir", "/missing", "/", "/other/x"]
    expected = [["a", "b"], None, ["dir", "other"], None]
    assert await driver.list_names(paths) == expected


# --- move ---------------------------------------------------------------------------------


async def test_move_to_new_path(driver: StorageDriver) -> None:
    await driver.put_content("/from/file", b"moved")
    await driver.move("/from/file", "/to/file")
    assert await driver.get_content("/to/file") == b"moved"


async def test_move_removes_the_source(driver: StorageDriver) -> None:
    await populate(driver, "/from/file", "/from/stays")
    await driver.move("/from/file", "/to/file")
    with pytest.raises(PathNotFound):
        await driver.get_content("/from/file")
    assert await driver.list("/from") == ["/from/stays"]


async def test_move_overwrites_destination(driver: StorageDriver) -> None:
    await driver.put_content("/from", b"new")
    await driver.put_content("/to", b"old and longer")
    await driver.move("/from", "/to")
    assert await driver.get_content("/to") == b"new"


async def test_move_missing_source_raises_path_not_found(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.move("/missing", "/to")


async def test_move_of_a_directory_raises_path_not_found(driver: StorageDriver) -> None:
    await driver.put_content("/dir/file", b"x")
    with pytest.raises(PathNotFound):
        await driver.move("/dir", "/elsewhere")
    assert await driver.get_content("/dir/file") == b"x"


async def test_move_creates_destination_parents(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"x")
    await driver.move("/file", "/deep/er/and/deeper/file")
    assert await driver.list("/deep/er/and/deeper") == ["/deep/er/and/deeper/file"]


async def test_move_of_committed_upload_to_blob_path(driver: StorageDriver) -> None:
    await write_committed(driver, "/uploads/1/data", b"blob")
    await driver.move("/uploads/1/data", "/blobs/ab/abcd/data")
    assert await driver.get_content("/blobs/ab/abcd/data") == b"blob"


# --- delete -------------------------------------------------------------------------------


async def test_delete_file(driver: StorageDriver) -> None:
    await populate(driver, "/dir/file", "/dir/other")
    await driver.delete("/dir/file")
    with pytest.raises(PathNotFound):
        await driver.get_content("/dir/file")
    assert await driver.list("/dir") == ["/dir/other"]


async def test_delete_directory_recursively(driver: StorageDriver) -> None:
    await populate(driver, "/dir/a", "/dir/sub/b", "/dir/sub/deep/c", "/keep")
    await driver.delete("/dir")
    for path in ("/dir/a", "/dir/sub/b", "/dir/sub/deep/c"):
        with pytest.raises(PathNotFound):
            await driver.get_content(path)
    assert await driver.list("/") == ["/keep"]


async def test_delete_missing_raises_path_not_found(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await driver.delete("/missing")


async def test_delete_leaves_sibling_with_common_name_prefix(driver: StorageDriver) -> None:
    await populate(driver, "/a/b", "/a/bc", "/a/b-d/e")
    await driver.delete("/a/b")
    assert await driver.list("/a") == ["/a/b-d", "/a/bc"]


async def test_delete_of_directory_leaves_sibling_with_common_name_prefix(
    driver: StorageDriver,
) -> None:
    await populate(driver, "/a/b/file", "/a/bc/file")
    await driver.delete("/a/b")
    assert await driver.list("/a") == ["/a/bc"]


async def test_delete_of_last_child_leaves_no_phantom_directory(driver: StorageDriver) -> None:
    await populate(driver, "/a/b/c/file", "/a/keep")
    await driver.delete("/a/b/c/file")
    assert await driver.list("/a") == ["/a/keep"]
    with pytest.raises(PathNotFound):
        await driver.list("/a/b")


async def test_delete_of_directory_discards_uncommitted_content_below(
    driver: StorageDriver,
) -> None:
    await driver.put_content("/upload/startedat", b"now")
    await write_closed(driver, "/upload/data", b"pending")
    await driver.delete("/upload")
    with pytest.raises(PathNotFound):
        await driver.writer("/upload/data", append=True)


async def test_delete_many_deletes_each_file_and_leaves_the_others(driver: StorageDriver) -> None:
    await populate(driver, "/blobs/a/data", "/blobs/b/data", "/blobs/c/data", "/keep")
    await driver.delete_many(["/blobs/a/data", "/blobs/c/data"])
    assert await driver.list("/blobs") == ["/blobs/b"]
    assert await driver.list("/") == ["/blobs", "/keep"]


async def test_delete_many_skips_absent_paths_and_folders(driver: StorageDriver) -> None:
    await populate(driver, "/dir/file", "/dir/sub/below")
    await driver.delete_many(["/missing", "/dir/sub", "/dir/file"])
    assert await driver.list("/dir") == ["/dir/sub"]
    assert await driver.get_content("/dir/sub/below") == b"/dir/sub/below"


async def test_delete_many_of_more_than_a_request_holds_deletes_them_all(
    driver: StorageDriver,
) -> None:
    paths = [f"/many/{n:04d}" for n in range(1100)]
    await asyncio.gather(*(driver.put_content(path, b"x") for path in paths))
    await driver.delete_many([*paths[:-1], "/many/absent"])
    assert await driver.list("/many") == [paths[-1]]


async def test_delete_many_with_an_invalid_path_deletes_nothing(driver: StorageDriver) -> None:
    await populate(driver, "/dir/file")
    with pytest.raises(InvalidPath):
        await driver.delete_many(["/dir/file", "/dir/../escape"])
    assert await driver.get_content("/dir/file") == b"/dir/file"


# --- walk ---------------------------------------------------------------------------------


async def test_walk_is_depth_first_lexical_with_directories_before_contents(
    driver: StorageDriver,
) -> None:
    await populate(driver, "/r/b/y", "/r/a", "/r/b/x/1", "/r/c")
    assert await walk_paths(driver, "/r") == [
        "/r/a",
        "/r/b",
        "/r/b/x",
        "/r/b/x/1",
        "/r/b/y",
        "/r/c",
    ]


async def test_walk_reports_kinds_and_sizes(driver: StorageDriver) -> None:
    await driver.put_content("/r/d/file", b"12345")
    infos = [info async for info in driver.walk("/r")]
    assert [(i.path, i.is_dir) for i in infos] == [("/r/d", True), ("/r/d/file", False)]
    assert infos[1].size == 5


async def test_walk_skip_dir_reports_the_directory_but_not_its_contents(
    driver: StorageDriver,
) -> None:
    await populate(driver, "/r/skip/inner", "/r/walk/inner", "/r/z")

    def skip(info: FileInfo) -> bool:
        return info.path == "/r/skip"

    assert await walk_paths(driver, "/r", skip_dir=skip) == [
        "/r/skip",
        "/r/walk",
        "/r/walk/inner",
        "/r/z",
    ]


async def test_walk_of_root_reports_everything(driver: StorageDriver) -> None:
    await populate(driver, "/b", "/a/c")
    assert await walk_paths(driver, "/") == ["/a", "/a/c", "/b"]


async def test_walk_of_missing_directory_raises_path_not_found(driver: StorageDriver) -> None:
    with pytest.raises(PathNotFound):
        await walk_paths(driver, "/missing")


async def test_walk_omits_uncommitted_content(driver: StorageDriver) -> None:
    await driver.put_content("/r/done/data", b"x")
    await write_closed(driver, "/r/done/partial", b"pending")
    await write_closed(driver, "/r/pending/data", b"pending")
    assert await walk_paths(driver, "/r") == ["/r/done", "/r/done/data"]


# --- open_file ----------------------------------------------------------------------------


async def test_open_file_is_none_or_holds_the_committed_content(driver: StorageDriver) -> None:
    await driver.put_content("/file", b"local")
    opened = driver.open_file("/file")
    if opened is not None:
        try:
            assert opened.size == len(b"local")
            assert os.pread(opened.fd, 100, 0) == b"local"
        finally:
            opened.close()


async def test_open_file_of_missing_content_is_none(driver: StorageDriver) -> None:
    assert driver.open_file("/missing") is None


# --- invalid paths ------------------------------------------------------------------------

INVALID_PATHS = [
    "/a/../b",
    "/a//b",
    "a/b",
    "/a/b c",
    "/a/.",
    "/a/b/",
    "",
    "/a/b?c",
    "/a/\u00e9",
]

Call = Callable[[StorageDriver, str], Awaitable[object]]


async def _writer(driver: StorageDriver, path: str) -> object:
    return await driver.writer(path)


async def _append(driver: StorageDriver, path: str) -> object:
    return await driver.writer(path, append=True)


async def _walk(driver: StorageDriver, path: str) -> object:
    return await walk_paths(driver, path)


async def _move_from(driver: StorageDriver, path: str) -> object:
    await driver.put_content("/valid", b"x")
    await driver.move(path, "/valid")
    return None


async def _move_to(driver: StorageDriver, path: str) -> object:
    await driver.put_content("/valid", b"x")
    await driver.move("/valid", path)
    return None


CALLS: dict[str, Call] = {
    "get_content": lambda d, p: d.get_content(p),
    "put_content": lambda d, p: d.put_content(p, b"x"),
    "reader": lambda d, p: d.reader(p),
    "writer": _writer,
    "writer_append": _append,
    "stat": lambda d, p: d.stat(p),
    "list": lambda d, p: d.list(p),
    "list_names": lambda d, p: d.list_names(["/", p]),
    "move_source": _move_from,
    "move_destination": _move_to,
    "delete": lambda d, p: d.delete(p),
    "walk": _walk,
}


@pytest.mark.parametrize("method", list(CALLS))
@pytest.mark.parametrize("path", INVALID_PATHS)
async def test_invalid_path_is_rejected(driver: StorageDriver, method: str, path: str) -> None:
    with pytest.raises(InvalidPath):
        await CALLS[method](driver, path)


@pytest.mark.parametrize(
    "method", ["get_content", "put_content", "reader", "writer", "move_source", "move_destination"]
)
async def test_root_is_not_a_file_path(driver: StorageDriver, method: str) -> None:
    with pytest.raises(InvalidPath):
        await CALLS[method](driver, "/")


async def test_invalid_path_rejection_leaves_the_backend_untouched(driver: StorageDriver) -> None:
    await driver.put_content("/b", b"keep")
    with pytest.raises(InvalidPath):
        await driver.delete("/a/../b")
    assert await driver.get_content("/b") == b"keep"
