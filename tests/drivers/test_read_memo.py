"""The read memo: small reads answered from memory until inotify reports a change.

Real files and a real inotify queue; changes are made the ways registries make them
(rename over, write in place, delete a folder), some from another process.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.storage import paths
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.filesystem.driver import _LocalFiles
from dockyard.storage.driver.filesystem.read_memo import (
    FileReads,
    Lister,
    ReadMemo,
    Unremembered,
    file_system_type,
)
from dockyard.storage.driver.plan import Plan, Read

LINK = paths.tag_current_link("app", "v1")
TAGS = LINK.removesuffix("/v1/current/link")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    write(folder, LINK, b"sha256:" + b"a" * 64)
    return folder


@pytest.fixture
def memo(root: Path) -> Iterator[ReadMemo]:
    memo = ReadMemo.for_root(*reads(root), str(root))
    assert memo is not None, "the test folder is on a local file system"
    yield memo
    memo.close()


def reads(root: Path) -> tuple[FileReads, Lister]:
    """The filesystem driver's own file reads and folder listing below ``root``."""
    driver = FilesystemDriver(root)
    return _LocalFiles(str(driver.root)), driver._list_names_blocking


def write(root: Path, path: str, content: bytes) -> None:
    """Replace the file as dockyard does: a temporary file renamed over it."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(content)
    os.replace(temporary, target)


async def learn(memo: ReadMemo, path: str, kind: str = "read") -> object:
    """Read ``path`` through a recording in a worker thread, then let the memo keep it."""
    recording = memo.recording()
    value = await asyncio.to_thread(getattr(recording, kind), path)
    memo.remember(recording)
    return value


def recall(memo: ReadMemo, path: str, kind: str = "read") -> object:
    memo.refresh()
    return getattr(memo, kind)(path)


def watches(memo: ReadMemo) -> int:
    """How many folders the memo's inotify instance watches (from the kernel)."""
    info = Path(f"/proc/self/fdinfo/{memo.inotify.fd}").read_text()
    return sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))


async def test_read_is_answered_from_memory_once_learned(memo: ReadMemo) -> None:
    learned = await learn(memo, LINK)
    assert recall(memo, LINK) == learned == b"sha256:" + b"a" * 64


def test_unlearned_read_is_unremembered(memo: ReadMemo) -> None:
    with pytest.raises(Unremembered):
        recall(memo, LINK)


async def test_file_replaced_by_rename_is_forgotten(memo: ReadMemo, root: Path) -> None:
    await learn(memo, LINK)
    write(root, LINK, b"sha256:" + b"b" * 64)
    with pytest.raises(Unremembered):
        recall(memo, LINK)


async def test_file_rewritten_in_place_is_forgotten(memo: ReadMemo, root: Path) -> None:
    await learn(memo, LINK)
    with (root / LINK.lstrip("/")).open("r+b") as file:  # as the reference writes links
        file.write(b"sha256:" + b"c" * 64)
    with pytest.raises(Unremembered):
        recall(memo, LINK)


async def test_change_by_another_process_is_seen_when_its_write_returned(
    memo: ReadMemo, root: Path
) -> None:
    await learn(memo, LINK)
    script = "import os,sys; p=sys.argv[1]; open(p+'.t','wb').write(b'x'); os.replace(p+'.t',p)"
    subprocess.run([sys.executable, "-c", script, str(root / LINK.lstrip("/"))], check=True)
    with pytest.raises(Unremembered):
        recall(memo, LINK)


async def test_deleted_folder_is_forgotten(memo: ReadMemo, root: Path) -> None:
    await learn(memo, LINK)
    shutil.rmtree(root / TAGS.lstrip("/") / "v1")
    with pytest.raises(Unremembered):
        recall(memo, LINK)


async def test_absent_file_in_existing_folder_is_remembered_as_absent(memo: ReadMemo) -> None:
    path = LINK.replace("link", "other")
    assert await learn(memo, path) is None
    assert recall(memo, path) is None


async def test_creating_a_remembered_absent_file_forgets_it(memo: ReadMemo, root: Path) -> None:
    path = LINK.replace("link", "other")
    await learn(memo, path)
    write(root, path, b"new")
    with pytest.raises(Unremembered):
        recall(memo, path)


async def test_file_in_absent_folders_is_remembered_as_absent(memo: ReadMemo) -> None:
    path = f"{TAGS}/v2/current/link"
    assert await learn(memo, path) is None
    assert recall(memo, path) is None


async def test_creating_the_folders_of_a_remembered_absent_file_forgets_it(
    memo: ReadMemo, root: Path
) -> None:
    path = f"{TAGS}/v2/current/link"
    await learn(memo, path)
    write(root, path, b"sha256:" + b"d" * 64)
    with pytest.raises(Unremembered):
        recall(memo, path)


async def test_size_is_remembered_and_forgotten_on_delete(memo: ReadMemo, root: Path) -> None:
    assert await learn(memo, LINK, "size") == 71
    assert recall(memo, LINK, "size") == 71
    (root / LINK.lstrip("/")).unlink()
    with pytest.raises(Unremembered):
        recall(memo, LINK, "size")


async def test_folder_names_are_remembered(memo: ReadMemo, root: Path) -> None:
    write(root, f"{TAGS}/v2/current/link", b"x")
    assert await learn(memo, TAGS, "names") == ["v1", "v2"]
    assert recall(memo, TAGS, "names") == ["v1", "v2"]


async def test_new_entry_in_a_remembered_folder_forgets_its_names(
    memo: ReadMemo, root: Path
) -> None:
    await learn(memo, TAGS, "names")
    write(root, f"{TAGS}/v3/current/link", b"x")
    with pytest.raises(Unremembered):
        recall(memo, TAGS, "names")


async def test_change_below_an_entry_keeps_the_folder_names(memo: ReadMemo, root: Path) -> None:
    await learn(memo, TAGS, "names")
    write(root, LINK, b"sha256:" + b"9" * 64)
    assert recall(memo, TAGS, "names") == ["v1"]


async def test_absent_folder_is_remembered_until_created(memo: ReadMemo, root: Path) -> None:
    folder = TAGS.replace("/app/", "/other/")
    assert await learn(memo, folder, "names") is None
    assert recall(memo, folder, "names") is None
    write(root, f"{folder}/v1/current/link", b"x")
    with pytest.raises(Unremembered):
        recall(memo, folder, "names")


async def test_change_between_read_and_remember_is_not_remembered(
    memo: ReadMemo, root: Path
) -> None:
    recording = memo.recording()
    await asyncio.to_thread(recording.read, LINK)
    write(root, LINK, b"sha256:" + b"e" * 64)  # lands after the read, before remember
    memo.remember(recording)
    with pytest.raises(Unremembered):
        recall(memo, LINK)


async def test_capacity_evicts_least_recently_used_and_unwatches(root: Path) -> None:
    memo = ReadMemo(*reads(root), str(root), capacity=2)
    try:
        paths = [f"{TAGS}/t{i}/current/link" for i in range(3)]
        for path in paths:
            write(root, path, b"x")
            await learn(memo, path)
        with pytest.raises(Unremembered):
            recall(memo, paths[0])
        assert recall(memo, paths[2]) == b"x"
        assert watches(memo) == 2
    finally:
        memo.close()


async def test_forgotten_folders_are_no_longer_watched(memo: ReadMemo, root: Path) -> None:
    await learn(memo, LINK)
    write(root, LINK, b"sha256:" + b"f" * 64)
    memo.refresh()
    assert watches(memo) == 0


async def test_lost_events_forget_everything(root: Path) -> None:
    memo = ReadMemo(*reads(root), str(root))
    try:
        await learn(memo, LINK)
        folder = (root / LINK.lstrip("/")).parent
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        # More events than the queue holds, without draining: the kernel drops some.
        # (Distinct names: the kernel merges an event identical to the one before it.)
        for number in range(limit // 2 + 10):
            (folder / f"noise-{number}").write_bytes(b"x")
        memo.refresh()
        with pytest.raises(Unremembered):
            memo.read(LINK)
        assert watches(memo) == 0
    finally:
        memo.close()


def _read_tag() -> Plan[bytes | None]:
    content: bytes | None = yield Read(LINK)
    return content


async def test_a_reading_plan_is_answered_without_a_thread_once_learned(root: Path) -> None:
    driver = FilesystemDriver(root)
    learned = await driver.run(_read_tag, reads_only=True)
    assert learned == b"sha256:" + b"a" * 64
    # Answered from memory, the call completes at its first step: a thread hop would
    # suspend it on a future.
    answering = driver.run(_read_tag, reads_only=True)
    with pytest.raises(StopIteration) as answered:
        answering.send(None)
    assert answered.value.value == learned
    await driver.close()


async def test_a_reading_plan_sees_a_change_made_after_it_was_learned(root: Path) -> None:
    driver = FilesystemDriver(root)
    await driver.run(_read_tag, reads_only=True)
    write(root, LINK, b"sha256:" + b"b" * 64)
    assert await driver.run(_read_tag, reads_only=True) == b"sha256:" + b"b" * 64
    await driver.close()


def _read(path: str) -> Plan[bytes | None]:
    content: bytes | None = yield Read(path)
    return content


def _read_as_list(path: str) -> Plan[list[bytes | None]]:
    return [(yield Read(path))]


async def test_plans_differing_only_in_arguments_get_their_own_results(root: Path) -> None:
    other = paths.tag_current_link("app", "v2")
    write(root, other, b"sha256:" + b"2" * 64)
    driver = FilesystemDriver(root)
    for _ in range(2):  # learned, then answered from memory
        assert await driver.run(functools.partial(_read, LINK), reads_only=True) == (
            b"sha256:" + b"a" * 64
        )
        assert await driver.run(functools.partial(_read, other), reads_only=True) == (
            b"sha256:" + b"2" * 64
        )
    await driver.close()


async def test_a_plan_result_remembered_whole_follows_another_process_s_change(
    root: Path,
) -> None:
    driver = FilesystemDriver(root)
    plan = functools.partial(_read, LINK)
    await driver.run(plan, reads_only=True)
    await driver.run(plan, reads_only=True)
    script = "import os,sys; p=sys.argv[1]; open(p+'.t','wb').write(b'x'); os.replace(p+'.t',p)"
    subprocess.run([sys.executable, "-c", script, str(root / LINK.lstrip("/"))], check=True)
    assert await driver.run(plan, reads_only=True) == b"x"
    await driver.close()


async def test_a_plan_result_is_dropped_with_a_read_it_rested_on(root: Path) -> None:
    # The tag's read is evicted (and its folder unwatched) by later reads: the plan's
    # whole result must not outlive it, or a change would go unseen.
    driver = FilesystemDriver(root)
    memo = driver._read_memo()
    assert memo is not None
    memo.capacity = 1
    plan = functools.partial(_read, LINK)
    await driver.run(plan, reads_only=True)
    await driver.run(plan, reads_only=True)
    other = paths.tag_current_link("app", "v2")
    write(root, other, b"y")
    await driver.run(functools.partial(_read, other), reads_only=True)
    write(root, LINK, b"z")
    assert await driver.run(plan, reads_only=True) == b"z"
    await driver.close()


async def test_a_mutable_plan_result_is_not_shared_between_callers(root: Path) -> None:
    driver = FilesystemDriver(root)
    plan = functools.partial(_read_as_list, LINK)
    first = await driver.run(plan, reads_only=True)
    first.append(b"changed by the caller")
    second = await driver.run(plan, reads_only=True)
    second.append(b"changed by the caller")
    assert await driver.run(plan, reads_only=True) == [b"sha256:" + b"a" * 64]
    await driver.close()


def _read_each(paths: list[str]) -> Plan[list[bytes | None]]:
    contents = []
    for path in paths:
        contents.append((yield Read(path)))
    return contents


async def test_a_plan_whose_arguments_do_not_hash_is_answered_and_follows_changes(
    root: Path,
) -> None:
    driver = FilesystemDriver(root)
    plan = functools.partial(_read_each, [LINK])
    for _ in range(2):
        assert await driver.run(plan, reads_only=True) == [b"sha256:" + b"a" * 64]
    write(root, LINK, b"w")
    assert await driver.run(plan, reads_only=True) == [b"w"]
    await driver.close()


def test_file_system_type_names_the_mount_holding_the_folder() -> None:
    assert file_system_type("/proc/self") == "proc"


def test_memo_is_refused_where_inotify_misses_changes(tmp_path: Path) -> None:
    assert ReadMemo.for_root(*reads(tmp_path), "/proc") is None
