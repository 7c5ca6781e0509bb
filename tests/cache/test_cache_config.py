"""Choosing the cache from the configuration (``storage.cache``, ``redis``) and the
reference's environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.assembly import build_cache
from dockyard.config import ConfigError, from_dict
from dockyard.storage.cache.memory import MemoryBlobDescriptorCache
from dockyard.storage.cache.redis import RedisBlobDescriptorCache


def config(
    tmp_path: Path, cache: dict[str, Any] | None, env: dict[str, str] | None = None, **sections: Any
) -> Any:
    storage: dict[str, Any] = {"filesystem": {"rootdirectory": str(tmp_path)}}
    if cache is not None:
        storage["cache"] = cache
    return from_dict({"version": 0.1, "storage": storage, **sections}, env or {})


def test_no_cache_section_means_no_cache(tmp_path: Path) -> None:
    assert build_cache(config(tmp_path, None)) is None


def test_inmemory_cache_holds_blobdescriptorsize_entries(tmp_path: Path) -> None:
    cache = build_cache(config(tmp_path, {"blobdescriptor": "inmemory", "blobdescriptorsize": 42}))
    assert isinstance(cache, MemoryBlobDescriptorCache)
    assert cache.size == 42


def test_inmemory_cache_size_defaults_to_ten_thousand(tmp_path: Path) -> None:
    cache = build_cache(config(tmp_path, {"blobdescriptor": "inmemory"}))
    assert isinstance(cache, MemoryBlobDescriptorCache)
    assert cache.size == 10000


def test_zero_blobdescriptorsize_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage\.cache\.blobdescriptorsize"):
        build_cache(config(tmp_path, {"blobdescriptor": "inmemory", "blobdescriptorsize": 0}))


async def test_redis_cache_comes_from_the_redis_section(tmp_path: Path) -> None:
    cache = build_cache(
        config(
            tmp_path,
            {"blobdescriptor": "redis"},
            redis={"addr": "127.0.0.1:6399", "db": 1, "pool": {"maxactive": 5}},
        )
    )
    assert isinstance(cache, RedisBlobDescriptorCache)
    pool = cache.client.connection_pool
    assert (pool.connection_kwargs["port"], pool.connection_kwargs["db"]) == (6399, 1)
    assert pool.max_connections == 5
    await cache.close()


async def test_redis_cache_is_chosen_by_the_reference_environment_variables(
    tmp_path: Path,
) -> None:
    env = {
        "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "redis",
        "REGISTRY_REDIS_ADDR": "localhost:6398",
    }
    cache = build_cache(config(tmp_path, None, env))
    assert isinstance(cache, RedisBlobDescriptorCache)
    assert cache.client.connection_pool.connection_kwargs["port"] == 6398
    await cache.close()
