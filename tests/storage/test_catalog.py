"""The catalog and repositories: names found by their ``_manifests`` folder, in pages."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storage_helpers import push_blob, push_image

from dockyard.digest import Digest
from dockyard.errors import NameInvalid
from dockyard.storage import paths
from dockyard.storage.catalog import repository_names
from dockyard.storage.driver.base import FileInfo, FileWriter, StorageDriver
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry


async def test_catalog_lists_repositories_with_manifests(registry: StorageRegistry) -> None:
    for name in ("b", "a/c", "a"):
        await push_image(registry.repository(name))
    page = await registry.catalog()
    assert (page.items, page.more) == (["a", "a/c", "b"], False)


async def test_catalog_is_lexical_not_walk_order(registry: StorageRegistry) -> None:
    for name in ("a/b", "a-b"):
        await push_image(registry.repository(name))
    assert (await registry.catalog()).items == ["a-b", "a/b"]


async def test_catalog_skips_repositories_without_manifests(registry: StorageRegistry) -> None:
    await push_blob(registry.repository("only-blobs"), b"data")
    await push_image(registry.repository("image"))
    assert (await registry.catalog()).items == ["image"]


async def test_catalog_of_empty_registry_is_empty(registry: StorageRegistry) -> None:
    page = await registry.catalog()
    assert (page.items, page.more) == ([], False)


async def test_catalog_paginates(registry: StorageRegistry) -> None:
    for name in ("a", "b", "c"):
        await push_image(registry.repository(name))
    first = await registry.catalog(n=2)
    assert (first.items, first.more) == (["a", "b"], True)
    second = await registry.catalog(last="b", n=2)
    assert (second.items, second.more) == (["c"], False)


async def test_catalog_with_n_zero_is_empty(registry: StorageRegistry) -> None:
    await push_image(registry.repository("a"))
    page = await registry.catalog(n=0)
    assert (page.items, page.more) == ([], False)


class _Spy(StorageDriver):
    """Counts which paths the walk reads as files."""

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner
        self.reads: list[str] = []
        self.descended: list[str] = []

    async def get_content(self, path: str) -> bytes:
        self.reads.append(path)
        return await self.inner.get_content(path)

    async def put_content(self, path: str, content: bytes) -> None:
        await self.inner.put_content(path, content)

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        self.reads.append(path)
        return await self.inner.reader(path, offset, length)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        return await self.inner.writer(path, append)

    async def stat(self, path: str) -> FileInfo:
        return await self.inner.stat(path)

    async def list(self, path: str) -> list[str]:
        self.descended.append(path)
        return await self.inner.list(path)

    async def move(self, source: str, destination: str) -> None:
        await self.inner.move(source, destination)

    async def delete(self, path: str) -> None:
        await self.inner.delete(path)


async def test_catalog_reads_no_file_and_skips_underscore_folders(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    await push_image(registry.repository("a/b"))
    spy = _Spy(driver)
    assert await repository_names(spy) == ["a/b"]
    assert spy.reads == []
    assert not any("/_" in path for path in spy.descended)


async def test_repository_with_invalid_name_raises_name_invalid(registry: StorageRegistry) -> None:
    for bad in ("", "UPPER", "a//b", "../etc", "a/", "-a", "x" * 256):
        with pytest.raises(NameInvalid):
            registry.repository(bad)


async def test_repository_exists_after_a_push(registry: StorageRegistry) -> None:
    repo = registry.repository("a/b")
    assert not await repo.exists()
    await push_blob(repo, b"data")
    assert await repo.exists()


async def test_parent_of_nested_repository_exists_as_folder(registry: StorageRegistry) -> None:
    await push_image(registry.repository("a/b"))
    assert (await registry.catalog()).items == ["a/b"]


async def test_repository_name_of_paths() -> None:
    assert paths.repository_name_of(paths.manifests_dir("a/b")) == "a/b"
    assert paths.repository_name_of(paths.upload_dir("x", "id")) == "x"
    assert paths.repository_name_of(paths.BLOBS) is None
    assert paths.repository_name_of(paths.repository("a")) is None


_COMPONENTS = st.sampled_from(["a", "b", "a-b", "a.b", "a_b", "ab", "a0", "z"])
_NAMES = st.lists(_COMPONENTS, min_size=1, max_size=3).map("/".join)


@settings(max_examples=60, deadline=None)
@given(
    names=st.sets(_NAMES, max_size=12),
    last=st.one_of(st.none(), _NAMES),
    n=st.one_of(st.none(), st.integers(min_value=0, max_value=5)),
)
async def test_catalog_pages_are_slices_of_the_sorted_names(
    names: set[str], last: str | None, n: int | None
) -> None:
    await _check_catalog_page(InMemoryDriver(), names, last, n)


@settings(max_examples=40, deadline=None)
@given(
    names=st.sets(_NAMES, max_size=12),
    last=st.one_of(st.none(), _NAMES),
    n=st.one_of(st.none(), st.integers(min_value=0, max_value=5)),
)
async def test_catalog_pages_walked_in_a_worker_thread_are_slices_of_the_sorted_names(
    names: set[str], last: str | None, n: int | None
) -> None:
    with tempfile.TemporaryDirectory() as root:
        await _check_catalog_page(FilesystemDriver(root), names, last, n)


async def _check_catalog_page(
    driver: StorageDriver, names: set[str], last: str | None, n: int | None
) -> None:
    for name in names:
        digest = Digest.of(name.encode())
        await driver.put_content(paths.manifest_revision_link(name, digest), str(digest).encode())
    everything = sorted(names)
    after = [name for name in everything if last is None or name > last]
    expected = after if n is None else after[:n]
    page = await StorageRegistry(driver).catalog(last, n)
    assert page.items == expected
    assert page.more == (n is not None and n > 0 and len(after) > n)


async def test_catalog_after_last_does_not_list_earlier_subtrees(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    for name in ("aa/x", "aa/y", "b/c"):
        await push_image(registry.repository(name))
    spy = _Spy(driver)
    page = await StorageRegistry(spy).catalog(last="ab")
    assert page.items == ["b/c"]
    assert paths.repository("aa") not in spy.descended


async def test_catalog_page_is_walked_in_one_thread_hop_on_the_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StorageRegistry(FilesystemDriver(tmp_path / "root"))
    for index in range(12):
        await push_image(registry.repository(f"group/r{index:02d}"))
    hand_offs = 0
    loop = asyncio.get_running_loop()
    real_run_in_executor = loop.run_in_executor

    def counting_run_in_executor(*args: Any) -> Any:
        nonlocal hand_offs
        hand_offs += 1
        return real_run_in_executor(*args)

    monkeypatch.setattr(loop, "run_in_executor", counting_run_in_executor)
    page = await registry.catalog(last="group/r03", n=5)
    assert (page.items, page.more) == ([f"group/r{index:02d}" for index in range(4, 9)], True)
    assert hand_offs == 1


class _BatchSpy(_Spy):
    """Counts ``list_names`` calls and the folders each asks for."""

    def __init__(self, inner: StorageDriver) -> None:
        super().__init__(inner)
        self.batches: list[int] = []

    async def list_names(self, paths: Sequence[str]) -> list[list[str] | None]:
        self.batches.append(len(paths))
        return await self.inner.list_names(paths)


async def test_catalog_lists_the_folders_of_a_page_in_few_batches(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    for index in range(30):
        await push_image(registry.repository(f"group/r{index:02d}"))
    spy = _BatchSpy(driver)
    page = await StorageRegistry(spy).catalog(last="group/r09", n=10)
    assert page.items == [f"group/r{index:02d}" for index in range(10, 20)]
    # The repositories folder, "group", then r09 (for names below it), the page and one more.
    assert spy.batches == [1, 1, 12]


async def test_catalog_does_not_list_folders_past_a_full_page(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    for index in range(30):
        await push_image(registry.repository(f"group/r{index:02d}"))
    spy = _BatchSpy(driver)
    await StorageRegistry(spy).catalog(n=10)
    assert sum(spy.batches) <= 2 + 11
