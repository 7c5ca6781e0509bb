"""Tags: point at manifests, resolve, list in pages, look up by digest."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence

import pytest
from storage_helpers import push_image

from dockyard.digest import Digest
from dockyard.errors import ManifestUnknown, NameUnknown, TagInvalid, TagUnknown
from dockyard.storage import paths
from dockyard.storage.driver.base import FileInfo, FileWriter, StorageDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository


async def pushed(repo: StorageRepository, seed: bytes = b"") -> Digest:
    body, _, _ = await push_image(repo, seed)
    return Digest.of(body)


async def test_tag_then_resolve(repo: StorageRepository) -> None:
    digest = await pushed(repo)
    await repo.tags.tag("latest", digest)
    assert await repo.tags.resolve("latest") == digest


async def test_tag_writes_index_and_current_links(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    digest = await pushed(repo)
    await repo.tags.tag("v1", digest)
    current = await driver.get_content(paths.tag_current_link(repo.name, "v1"))
    index = await driver.get_content(paths.tag_index_link(repo.name, "v1", digest))
    assert current == index == str(digest).encode()


async def test_retag_moves_current_and_keeps_history(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    first, second = await pushed(repo, b"1"), await pushed(repo, b"2")
    await repo.tags.tag("v1", first)
    await repo.tags.tag("v1", second)
    assert await repo.tags.resolve("v1") == second
    await driver.stat(paths.tag_index_link(repo.name, "v1", first))


async def test_tag_of_unknown_manifest_raises_manifest_unknown(repo: StorageRepository) -> None:
    with pytest.raises(ManifestUnknown):
        await repo.tags.tag("latest", Digest.of(b"nothing"))


async def test_resolve_of_unknown_tag_raises_tag_unknown(repo: StorageRepository) -> None:
    with pytest.raises(TagUnknown):
        await repo.tags.resolve("latest")


@pytest.mark.parametrize("bad", ["", ".hidden", "-x", "a/b", "x" * 129, "tag:1"])
async def test_invalid_tags_raise_tag_invalid(repo: StorageRepository, bad: str) -> None:
    with pytest.raises(TagInvalid):
        await repo.tags.resolve(bad)
    with pytest.raises(TagInvalid):
        await repo.tags.tag(bad, Digest.of(b"x"))
    with pytest.raises(TagInvalid):
        await repo.tags.untag(bad)


async def test_untag_removes_tag(repo: StorageRepository) -> None:
    await repo.tags.tag("latest", await pushed(repo))
    await repo.tags.untag("latest")
    with pytest.raises(TagUnknown):
        await repo.tags.resolve("latest")


async def test_untag_keeps_the_manifest(repo: StorageRepository) -> None:
    digest = await pushed(repo)
    await repo.tags.tag("latest", digest)
    await repo.tags.untag("latest")
    assert (await repo.manifests.get(digest)).digest == digest


async def test_untag_of_unknown_tag_raises_tag_unknown(repo: StorageRepository) -> None:
    await pushed(repo)
    with pytest.raises(TagUnknown):
        await repo.tags.untag("latest")


async def test_list_is_sorted_lexically(repo: StorageRepository) -> None:
    digest = await pushed(repo)
    for tag in ("b", "a", "C", "a1", "_x"):
        await repo.tags.tag(tag, digest)
    page = await repo.tags.list()
    assert page.items == ["C", "_x", "a", "a1", "b"]
    assert not page.more


async def test_list_paginates_with_last_and_n(repo: StorageRepository) -> None:
    digest = await pushed(repo)
    for tag in ("a", "b", "c", "d", "e"):
        await repo.tags.tag(tag, digest)
    first = await repo.tags.list(n=2)
    assert (first.items, first.more) == (["a", "b"], True)
    second = await repo.tags.list(last="b", n=2)
    assert (second.items, second.more) == (["c", "d"], True)
    third = await repo.tags.list(last="d", n=2)
    assert (third.items, third.more) == (["e"], False)


async def test_list_page_ending_exactly_has_no_more(repo: StorageRepository) -> None:
    digest = await pushed(repo)
    for tag in ("a", "b"):
        await repo.tags.tag(tag, digest)
    page = await repo.tags.list(n=2)
    assert (page.items, page.more) == (["a", "b"], False)


async def test_list_with_last_not_a_tag_starts_after_it(repo: StorageRepository) -> None:
    digest = await pushed(repo)
    for tag in ("a", "c"):
        await repo.tags.tag(tag, digest)
    assert (await repo.tags.list(last="b")).items == ["c"]


async def test_list_with_n_zero_is_empty(repo: StorageRepository) -> None:
    await repo.tags.tag("a", await pushed(repo))
    page = await repo.tags.list(n=0)
    assert (page.items, page.more) == ([], False)


async def test_list_of_unknown_repository_raises_name_unknown(registry: StorageRegistry) -> None:
    with pytest.raises(NameUnknown):
        await registry.repository("nothing/here").tags.list()


async def test_list_of_repository_without_tags_is_empty(repo: StorageRepository) -> None:
    await pushed(repo)
    page = await repo.tags.list()
    assert (page.items, page.more) == ([], False)


async def test_lookup_finds_every_tag_of_a_digest(repo: StorageRepository) -> None:
    first, second = await pushed(repo, b"1"), await pushed(repo, b"2")
    await repo.tags.tag("x", first)
    await repo.tags.tag("y", second)
    await repo.tags.tag("z", first)
    assert await repo.tags.lookup(first) == ["x", "z"]


async def test_lookup_ignores_tags_moved_away(repo: StorageRepository) -> None:
    first, second = await pushed(repo, b"1"), await pushed(repo, b"2")
    await repo.tags.tag("x", first)
    await repo.tags.tag("x", second)
    assert await repo.tags.lookup(first) == []


async def test_lookup_in_unknown_repository_is_empty(registry: StorageRegistry) -> None:
    assert await registry.repository("nothing").tags.lookup(Digest.of(b"x")) == []


async def test_list_after_last_and_untag_stays_sorted(repo: StorageRepository) -> None:
    digest = await pushed(repo)
    for tag in ("b", "a-1", "a", "a.2", "c"):
        await repo.tags.tag(tag, digest)
    await repo.tags.untag("b")
    page = await repo.tags.list(last="a", n=3)
    assert (page.items, page.more) == (["a-1", "a.2", "c"], False)


async def test_list_reads_one_folder_and_no_tag(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    repo = registry.repository("lib/app")
    digest = await pushed(repo)
    for tag in ("x", "y", "z"):
        await repo.tags.tag(tag, digest)
    spy = CountingDriver(driver)
    assert (await StorageRegistry(spy).repository("lib/app").tags.list()).items == ["x", "y", "z"]
    assert spy.calls == ["list_names"]


class CountingDriver(StorageDriver):
    """Delegates to a real driver and records which reading calls were made."""

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def get_content(self, path: str) -> bytes:
        self.calls.append("get_content")
        return await self.inner.get_content(path)

    async def put_content(self, path: str, content: bytes) -> None:
        await self.inner.put_content(path, content)

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        self.calls.append("reader")
        return await self.inner.reader(path, offset, length)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        return await self.inner.writer(path, append)

    async def stat(self, path: str) -> FileInfo:
        self.calls.append("stat")
        return await self.inner.stat(path)

    async def list(self, path: str) -> list[str]:
        self.calls.append("list")
        return await self.inner.list(path)

    async def list_names(self, paths: Sequence[str]) -> builtins.list[builtins.list[str] | None]:
        self.calls.append("list_names")
        return await self.inner.list_names(paths)

    async def move(self, source: str, destination: str) -> None:
        await self.inner.move(source, destination)

    async def delete(self, path: str) -> None:
        await self.inner.delete(path)
