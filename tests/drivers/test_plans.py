"""Plans (``driver.plan``) on every driver: each step answers as documented, whether the
driver awaits the steps one by one or runs the whole plan in a worker thread."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from dockyard.storage.driver.base import InvalidPath, PathNotFound, StorageDriver
from dockyard.storage.driver.plan import (
    Adopt,
    Cancel,
    Close,
    Commit,
    Delete,
    Each,
    Hash,
    HashStored,
    Listing,
    ModTime,
    Move,
    OpenWriter,
    Plan,
    Put,
    Read,
    Size,
    Step,
    Truncate,
    Write,
)


def steps(*sequence: Step) -> Callable[[], Plan[list[Any]]]:
    """A plan making ``sequence``'s steps in turn; it returns their answers."""

    def plan() -> Plan[list[Any]]:
        answers = []
        for step in sequence:
            answers.append((yield step))
        return answers

    return plan


async def test_reading_steps_answer_none_for_what_is_absent(driver: StorageDriver) -> None:
    await driver.put_content("/dir/file", b"content")
    answers = await driver.run(
        steps(Read("/dir/file"), Read("/dir/gone"), Size("/dir/file"), Size("/dir"), Size("/x")),
        reads_only=True,
    )
    assert answers == [b"content", None, 7, None, None]


@pytest.mark.parametrize("size", [0, 71, (64 << 10) - 1, 64 << 10, (64 << 10) + 1, 200_000])
async def test_read_step_answers_the_whole_file_at_any_size(
    driver: StorageDriver, size: int
) -> None:
    content = bytes(i % 251 for i in range(size))
    await driver.put_content("/dir/file", content)
    assert await driver.run(steps(Read("/dir/file"))) == [content]
    assert await driver.run(steps(Read("/dir/file")), reads_only=True) == [content]


async def test_listing_step_names_the_children_of_each_folder(driver: StorageDriver) -> None:
    await driver.put_content("/dir/b", b"x")
    await driver.put_content("/dir/a/c", b"x")
    (listed,) = await driver.run(steps(Listing(["/dir", "/none"])), reads_only=True)
    assert listed == [["a", "b"], None]


async def test_mod_time_step_answers_for_files_and_none_for_absence(
    driver: StorageDriver,
) -> None:
    await driver.put_content("/dir/file", b"x")
    stamped, absent = await driver.run(steps(ModTime("/dir/file"), ModTime("/dir/gone")))
    assert stamped == (await driver.stat("/dir/file")).mod_time
    assert absent is None


@pytest.mark.parametrize("durability", ["full", "content", "none"])
async def test_put_step_stores_the_content_at_any_durability(
    driver: StorageDriver, durability: Any
) -> None:
    await driver.run(steps(Put("/a/b", b"one"), Put("/a/b", b"two", durability)))
    assert await driver.get_content("/a/b") == b"two"


async def test_delete_and_move_steps(driver: StorageDriver) -> None:
    await driver.put_content("/a/b", b"x")
    answers = await driver.run(
        steps(Move("/a/b", "/c/d"), Delete("/c/d"), Delete("/c/d"), Read("/a/b"))
    )
    assert answers == [None, True, False, None]


async def test_writer_steps_write_cut_and_commit_elsewhere(driver: StorageDriver) -> None:
    def plan() -> Plan[int]:
        writer = yield OpenWriter("/up/data")
        yield Write(writer, [b"hello ", b"wide ", b"world"])
        yield Truncate(writer, 6)
        yield Close(writer)
        again = yield OpenWriter("/up/data", append=True)
        yield Write(again, [b"there"])
        size: int = again.size
        yield Commit(again, "/up/data", "/blob/data")
        return size

    assert await driver.run(plan) == len(b"hello there")
    assert await driver.get_content("/blob/data") == b"hello there"
    with pytest.raises(PathNotFound):
        await driver.stat("/up/data")


async def test_appending_without_uncommitted_content_answers_none(
    driver: StorageDriver,
) -> None:
    assert await driver.run(steps(OpenWriter("/nothing/here", append=True))) == [None]


async def test_cancel_step_discards_uncommitted_content(driver: StorageDriver) -> None:
    def plan() -> Plan[object]:
        writer = yield OpenWriter("/up/data")
        yield Write(writer, [b"x"])
        yield Cancel(writer)
        return (yield OpenWriter("/up/data", append=True))

    assert await driver.run(plan) is None


async def test_adopt_continues_committed_content_cut_to_size(driver: StorageDriver) -> None:
    await driver.put_content("/up/data", b"acknowledged, then cut off")

    def plan() -> Plan[object]:
        writer = yield Adopt("/up/data", len(b"acknowledged"))
        assert writer is not None
        yield Write(writer, [b"!"])
        yield Commit(writer, "/up/data")
        return (yield Adopt("/up/missing", 0))

    assert await driver.run(plan) is None
    assert await driver.get_content("/up/data") == b"acknowledged!"


async def test_hash_steps_digest_chunks_and_stored_content(driver: StorageDriver) -> None:
    data = b"z" * (300 << 10)
    await driver.put_content("/blob", data)
    hasher = hashlib.sha256()
    answers = await driver.run(
        steps(Hash(hasher, [data[:7], data[7:]]), HashStored("/blob", "sha512"))
    )
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert answers[1] == hashlib.sha512(data).hexdigest()


async def test_each_step_answers_every_plan_in_order(driver: StorageDriver) -> None:
    await driver.put_content("/a", b"1")
    await driver.put_content("/b", b"2")
    (answers,) = await driver.run(
        steps(Each([steps(Read("/a")), steps(Read("/missing")), steps(Read("/b"))])),
        reads_only=True,
    )
    assert answers == [[b"1"], [None], [b"2"]]


async def test_a_failing_step_raises_inside_the_plan_where_it_can_be_handled(
    driver: StorageDriver,
) -> None:
    def plan() -> Plan[str]:
        try:
            yield Move("/missing", "/elsewhere")
        except PathNotFound:
            return "handled"
        return "not raised"

    assert await driver.run(plan) == "handled"


async def test_an_unhandled_failure_leaves_the_plan_and_reaches_the_caller(
    driver: StorageDriver,
) -> None:
    with pytest.raises(InvalidPath):
        await driver.run(steps(Put("/a/../b", b"x")))


async def test_an_error_raised_by_the_plan_reaches_the_caller(driver: StorageDriver) -> None:
    def plan() -> Plan[None]:
        yield Read("/a")
        raise LookupError("the plan's own")

    with pytest.raises(LookupError, match="the plan's own"):
        await driver.run(plan, reads_only=True)
