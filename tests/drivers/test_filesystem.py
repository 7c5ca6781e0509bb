"""Behaviour only the filesystem driver has: on-disk layout, durability, crashes, threads."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.storage.driver.base import InvalidPath, PathNotFound
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.plan import DeleteFiles, Plan

MiB = 1 << 20
CHILD = Path(__file__).with_name("fs_child.py")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
async def fs(root: Path) -> AsyncIterator[FilesystemDriver]:
    driver = FilesystemDriver(root)
    yield driver
    await driver.close()


def files_below(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def start_child(*arguments: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), *arguments, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
    return process


# --- layout -------------------------------------------------------------------------------


async def test_content_lands_at_root_plus_path(fs: FilesystemDriver, root: Path) -> None:
    await fs.put_content("/docker/registry/v2/blobs/sha256/ab/abcd/data", b"blob")
    await fs.put_content("/docker/registry/v2/repositories/r/_layers/sha256/abcd/link", b"l")
    assert (root / "docker/registry/v2/blobs/sha256/ab/abcd/data").read_bytes() == b"blob"
    assert files_below(root) == [
        "docker/registry/v2/blobs/sha256/ab/abcd/data",
        "docker/registry/v2/repositories/r/_layers/sha256/abcd/link",
    ]


async def test_committed_writer_content_lands_at_root_plus_path(
    fs: FilesystemDriver, root: Path
) -> None:
    writer = await fs.writer("/uploads/1/data")
    await writer.write(b"data")
    await writer.commit()
    assert files_below(root) == ["uploads/1/data"]


async def test_uncommitted_content_is_kept_beside_the_path_not_at_it(
    fs: FilesystemDriver, root: Path
) -> None:
    writer = await fs.writer("/uploads/1/data")
    await writer.write(b"data")
    await writer.close()
    assert not (root / "uploads/1/data").exists()
    assert files_below(root) == ["uploads/1/data#partial"]


async def test_reads_files_placed_directly_under_the_root(fs: FilesystemDriver, root: Path) -> None:
    (root / "written/elsewhere").mkdir(parents=True)
    (root / "written/elsewhere/data").write_bytes(b"foreign")
    assert await fs.get_content("/written/elsewhere/data") == b"foreign"
    assert await fs.list("/written") == ["/written/elsewhere"]


async def test_files_with_names_outside_the_path_grammar_are_not_reported(
    fs: FilesystemDriver, root: Path
) -> None:
    await fs.put_content("/dir/visible", b"x")
    (root / "dir/has space").write_bytes(b"x")
    (root / "dir/data#1234.tmp").write_bytes(b"x")
    assert await fs.list("/dir") == ["/dir/visible"]
    assert [info.path async for info in fs.walk("/")] == ["/dir", "/dir/visible"]


async def test_list_names_omits_names_outside_the_path_grammar(
    fs: FilesystemDriver, root: Path
) -> None:
    await fs.put_content("/dir/visible", b"x")
    (root / "dir/has space").write_bytes(b"x")
    (root / "dir/data#1234.tmp").write_bytes(b"x")
    (root / "dir/data#partial").write_bytes(b"x")
    assert await fs.list_names(["/dir"]) == [["visible"]]


async def test_list_names_reads_every_directory_in_one_thread_hand_off(
    fs: FilesystemDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(20):
        await fs.put_content(f"/repos/r{index:02d}/_manifests/link", b"x")
    hand_offs = 0
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(*args: object, **kwargs: object) -> object:
        nonlocal hand_offs
        hand_offs += 1
        return await real_to_thread(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "to_thread", counting_to_thread)
    listed = await fs.list_names([f"/repos/r{index:02d}" for index in range(20)])
    assert listed == [["_manifests"]] * 20
    assert hand_offs == 1


async def test_delete_removes_emptied_directories_from_disk(
    fs: FilesystemDriver, root: Path
) -> None:
    await fs.put_content("/a/b/c/file", b"x")
    await fs.put_content("/a/keep", b"x")
    await fs.delete("/a/b/c/file")
    assert not (root / "a/b").exists()
    assert (root / "a/keep").exists()


async def test_delete_many_removes_the_directories_it_empties_from_disk(
    fs: FilesystemDriver, root: Path
) -> None:
    await fs.put_content("/a/s/file", b"x")
    await fs.put_content("/a/s/h/sha256/1", b"x")
    await fs.put_content("/a/keep", b"x")
    await fs.delete_many(["/a/s/file", "/a/s/h/sha256/1"])
    assert not (root / "a/s").exists()
    assert (root / "a/keep").exists()


async def test_delete_files_step_without_prune_leaves_emptied_directories(
    fs: FilesystemDriver, root: Path
) -> None:
    await fs.put_content("/a/s/file", b"x")

    def plan() -> Plan[None]:
        yield DeleteFiles(["/a/s/file"], prune=False)

    await fs.run(plan)
    assert not (root / "a/s/file").exists()
    assert (root / "a/s").is_dir()


async def test_move_removes_emptied_source_directories_from_disk(
    fs: FilesystemDriver, root: Path
) -> None:
    await fs.put_content("/uploads/1/data", b"x")
    await fs.move("/uploads/1/data", "/blobs/data")
    assert not (root / "uploads").exists()
    assert root.exists()


async def test_delete_of_everything_keeps_the_root(fs: FilesystemDriver, root: Path) -> None:
    await fs.put_content("/a/file", b"x")
    await fs.delete("/")
    assert root.is_dir()
    assert await fs.list("/") == []


async def test_open_file_keeps_the_content_it_opened_when_the_path_is_replaced(
    fs: FilesystemDriver,
) -> None:
    await fs.put_content("/blobs/data", b"first")
    opened = fs.open_file("/blobs/data")
    assert opened is not None
    await fs.put_content("/blobs/data", b"second")
    assert os.pread(opened.fd, 100, 0) == b"first"
    opened.close()


async def test_open_file_of_uncommitted_content_is_none(fs: FilesystemDriver) -> None:
    writer = await fs.writer("/blobs/data")
    await writer.write(b"x")
    await writer.close()
    assert fs.open_file("/blobs/data") is None


async def test_open_file_of_a_folder_is_none(fs: FilesystemDriver) -> None:
    await fs.put_content("/blobs/data", b"x")
    assert fs.open_file("/blobs") is None


async def test_open_file_rejects_invalid_path(fs: FilesystemDriver) -> None:
    with pytest.raises(InvalidPath):
        fs.open_file("/a/../../etc/passwd")


async def test_missing_root_reads_as_empty(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path / "not-yet")
    assert await driver.list("/") == []
    assert (await driver.stat("/")).is_dir


# --- durability ---------------------------------------------------------------------------


class SyscallLog:
    """Records fsync (of files and of directories) and rename calls, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[str] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
            self.events.append(f"fsync-{kind}")
            real_fsync(fd)

        def replace(source: str, destination: str) -> None:
            self.events.append("rename")
            real_replace(source, destination)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)


async def test_put_content_syncs_file_then_renames_then_syncs_directory(
    fs: FilesystemDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = SyscallLog(monkeypatch)
    await fs.put_content("/dir/file", b"x")
    assert log.events == ["fsync-file", "rename", "fsync-dir"]


async def test_commit_syncs_file_then_renames_then_syncs_directory(
    fs: FilesystemDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = await fs.writer("/dir/file")
    await writer.write(b"x")
    log = SyscallLog(monkeypatch)
    await writer.commit()
    assert log.events == ["fsync-file", "rename", "fsync-dir"]


async def test_close_syncs_the_uncommitted_content(
    fs: FilesystemDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = await fs.writer("/dir/file")
    await writer.write(b"x")
    log = SyscallLog(monkeypatch)
    await writer.close()
    assert log.events == ["fsync-file"]


async def test_move_syncs_the_destination_directory(
    fs: FilesystemDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fs.put_content("/dir/a", b"x")
    log = SyscallLog(monkeypatch)
    await fs.move("/dir/a", "/dir/b")
    assert log.events == ["rename", "fsync-dir"]


async def test_move_across_devices_copies_durably_then_removes_the_source(
    fs: FilesystemDriver, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fs.put_content("/src/file", b"moved across devices")
    real_replace = os.replace

    def replace(source: str, destination: str) -> None:
        if not source.endswith(".tmp"):  # only the driver's own temp file renames locally
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    await fs.move("/src/file", "/dst/file")
    assert await fs.get_content("/dst/file") == b"moved across devices"
    with pytest.raises(PathNotFound):
        await fs.get_content("/src/file")
    assert files_below(root) == ["dst/file"]


KILL_DELAYS = [0.0, 0.011, 0.027, 0.043, 0.071]


@pytest.mark.parametrize("mode", ["loop-put", "loop-writer"])
async def test_sigkill_mid_write_leaves_complete_old_content_or_nothing(
    root: Path, mode: str
) -> None:
    size = 8 * MiB
    target = root / "blobs/data"
    killed_mid_write = 0
    for index, delay in enumerate(KILL_DELAYS):
        process = await start_child(str(root), "/blobs/data", mode, str(size))
        assert process.stdout is not None
        if index > 0:  # the first run is killed before any commit
            assert (await asyncio.wait_for(process.stdout.readline(), 60)).startswith(b"committed")
        await asyncio.sleep(delay)
        process.kill()
        await process.wait()
        if target.exists():
            content = target.read_bytes()
            assert len(content) == size
            assert content.count(content[:1]) == size
        on_disk = os.listdir(target.parent) if target.parent.exists() else []
        leftovers = [name for name in on_disk if name != "data"]
        killed_mid_write += bool(leftovers)
        driver = FilesystemDriver(root)
        visible = [info.path async for info in driver.walk("/")]
        assert visible in ([], ["/blobs", "/blobs/data"])
    assert killed_mid_write > 0, "no run was killed mid-write; the test proved nothing"


async def test_append_continues_content_another_process_wrote(
    fs: FilesystemDriver, root: Path
) -> None:
    process = await start_child(str(root), "/uploads/1/data", "write-close", "from the child, ")
    assert await process.wait() == 0
    writer = await fs.writer("/uploads/1/data", append=True)
    assert writer.size == 16
    await writer.write(b"from the parent")
    await writer.commit()
    assert await fs.get_content("/uploads/1/data") == b"from the child, from the parent"


# --- threads and streaming ----------------------------------------------------------------


class Ticker:
    """Measures the longest time the event loop went without running this task."""

    def __init__(self) -> None:
        self.longest_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.005)
            now = loop.time()
            self.longest_gap = max(self.longest_gap, now - last)
            last = now


async def test_writing_and_reading_64_mib_does_not_block_the_event_loop(
    fs: FilesystemDriver,
) -> None:
    chunk = os.urandom(MiB)
    async with Ticker() as ticker:
        writer = await fs.writer("/large/data")
        for _ in range(64):
            await writer.write(chunk)
        await writer.commit()
        total = 0
        async for piece in await fs.reader("/large/data"):
            total += len(piece)
        await fs.put_content("/large/copy", chunk * 16)
        assert len(await fs.get_content("/large/copy")) == 16 * MiB
    assert total == 64 * MiB
    # Generous: the machine is shared; a blocking 64 MiB write or read would take far longer.
    assert ticker.longest_gap < 0.5


async def test_small_writes_are_batched_into_few_thread_hand_offs(
    fs: FilesystemDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = await fs.writer("/upload/data")
    hand_offs = 0
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(*args: object, **kwargs: object) -> object:
        nonlocal hand_offs
        hand_offs += 1
        return await real_to_thread(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "to_thread", counting_to_thread)
    for _ in range(8 * 1024):
        await writer.write(b"x" * 1024)
    # At most one hand-off per MiB gathered: 8192 writes, 8 thread hops.
    assert hand_offs <= 8
    await writer.commit()
    assert (await fs.stat("/upload/data")).size == 8 * MiB


async def test_write_keeps_the_bytes_of_a_buffer_the_caller_reuses(fs: FilesystemDriver) -> None:
    writer = await fs.writer("/upload/data")
    buffer = bytearray(b"first")
    await writer.write(buffer)
    buffer[:] = b"later"
    await writer.write(memoryview(b"-tail"))
    await writer.commit()
    assert await fs.get_content("/upload/data") == b"first-tail"


async def test_writes_larger_than_the_buffer_land_in_order(fs: FilesystemDriver) -> None:
    pieces = [os.urandom(size) for size in (5, 3 * MiB + 1, 17, MiB, 2 * MiB - 3)]
    writer = await fs.writer("/upload/data")
    for piece in pieces:
        await writer.write(piece)
    assert writer.size == sum(len(piece) for piece in pieces)
    await writer.commit()
    assert await fs.get_content("/upload/data") == b"".join(pieces)


async def test_reader_stopped_early_releases_its_file(fs: FilesystemDriver) -> None:
    await fs.put_content("/file", os.urandom(3 * MiB))
    before = len(os.listdir("/proc/self/fd"))
    stream = await fs.reader("/file")
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(os.listdir("/proc/self/fd")) == before


async def test_reader_of_a_directory_raises_path_not_found(fs: FilesystemDriver) -> None:
    await fs.put_content("/dir/file", b"x")
    with pytest.raises(PathNotFound):
        await fs.reader("/dir")


async def test_write_cancelled_while_its_thread_runs_still_lands_and_counts(
    fs: FilesystemDriver,
) -> None:
    content = os.urandom(8 * MiB)
    writer = await fs.writer("/upload/data")
    task = asyncio.create_task(writer.write(content))
    await asyncio.sleep(0)  # the task hands the bytes to a worker thread and waits
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.size == len(content)
    await writer.close()  # waits for the thread before releasing the file
    resumed = await fs.writer("/upload/data", append=True)
    assert resumed.size == len(content)
    await resumed.commit()
    assert await fs.get_content("/upload/data") == content


async def test_writer_cannot_be_used_after_close(fs: FilesystemDriver) -> None:
    writer = await fs.writer("/upload/data")
    await writer.close()
    with pytest.raises(ValueError, match="closed"):
        await writer.write(b"late")


async def test_puts_racing_deletes_of_their_folder_never_fail(
    fs: FilesystemDriver, root: Path
) -> None:
    # The collector removes the writers' record folder while writers record into it: each
    # put here races one delete, landing before, during or after it.
    for index in range(300):
        put = asyncio.create_task(fs.put_content(f"/records/sha256/{index % 7}", b"in use"))
        await asyncio.sleep((index % 5) * 0.0004)
        with contextlib.suppress(PathNotFound):
            await fs.delete("/records")
        await put
