"""``ByteBoundedLRU``: the one least-recently-used map the caches bounded in bytes share."""

from __future__ import annotations

import pytest

from dockyard.lru import ENTRY_OVERHEAD_BYTES, ByteBoundedLRU, charge
from dockyard.memory_size import deep_size


def test_a_kept_value_is_found_under_its_key() -> None:
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(1000)
    assert lru.put("a", "alpha", 10)
    assert lru.get("a") == "alpha"
    assert lru.get("b") is None


def test_the_least_recently_used_entry_goes_first_beyond_the_byte_bound() -> None:
    lru: ByteBoundedLRU[str, int] = ByteBoundedLRU(300)
    for key in "abc":
        lru.put(key, 1, 100)
    lru.get("a")  # now b is the least recently used
    lru.put("d", 1, 100)
    assert lru.get("b") is None
    assert [lru.get(k) for k in "acd"] == [1, 1, 1]
    assert lru.charged_bytes == 300


def test_the_least_recently_used_entry_goes_first_beyond_the_entry_bound() -> None:
    lru: ByteBoundedLRU[str, int] = ByteBoundedLRU(10_000, max_entries=2)
    lru.put("a", 1, 1)
    lru.put("b", 2, 1)
    lru.put("c", 3, 1)
    assert len(lru) == 2
    assert lru.get("a") is None


def test_an_entry_over_its_bound_is_not_kept_and_drops_the_old_value() -> None:
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(1000, max_entry_bytes=50)
    lru.put("a", "small", 10)
    assert not lru.put("a", "huge", 51)
    assert lru.get("a") is None
    assert lru.charged_bytes == 0


def test_replacing_an_entry_charges_only_the_new_value() -> None:
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(1000)
    lru.put("a", "one", 100)
    lru.put("a", "two", 40)
    assert lru.charged_bytes == 40
    assert len(lru) == 1


def test_pop_and_clear_give_back_their_charge() -> None:
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(1000)
    lru.put("a", "one", 100)
    lru.put("b", "two", 50)
    assert lru.pop("a") == "one"
    assert lru.pop("a") is None
    assert lru.charged_bytes == 50
    lru.clear()
    assert lru.charged_bytes == 0
    assert len(lru) == 0


def test_the_charge_of_a_value_is_its_deep_size_and_the_entry_overhead() -> None:
    value = ("digest", b"x" * 500, ["a", "b"])
    assert charge(value) == deep_size(value) + ENTRY_OVERHEAD_BYTES


def test_many_entries_never_hold_more_than_the_byte_bound() -> None:
    lru: ByteBoundedLRU[int, bytes] = ByteBoundedLRU(10_000)
    for i in range(1000):
        lru.put(i, bytes(i % 97), charge(bytes(i % 97)))
        assert lru.charged_bytes <= 10_000


def test_a_cache_must_hold_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        ByteBoundedLRU(100, max_entries=0)
