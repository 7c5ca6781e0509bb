"""Building the pull-through cache from the configuration (called by ``dockyard.assembly``)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.proxy.leases import FileLeases, Leases, RedisLeases
from dockyard.proxy.registry import ProxyRegistry

if TYPE_CHECKING:
    from dockyard.config import Config
    from dockyard.storage.driver.base import StorageDriver
    from dockyard.storage.protocols import Registry


def proxy_registry(config: Config, registry: Registry, driver: StorageDriver) -> ProxyRegistry:
    """``registry`` decorated by the proxy ``config.proxy`` describes."""
    proxy = config.proxy
    assert proxy is not None
    return ProxyRegistry(
        registry, driver, proxy, build_leases(config), read_only=config.storage.readonly
    )


def build_leases(config: Config) -> Leases:
    """File leases shared by the workers of this host; through Redis when it is configured."""
    leases: Leases = FileLeases(lock_directory(config))
    if config.redis is not None:
        from redis.asyncio import Redis

        from dockyard.storage.cache.redis import connection_pool

        leases = RedisLeases(Redis(connection_pool=connection_pool(config.redis)), leases)
    return leases


def lock_directory(config: Config) -> Path:
    """``proxy.lockdir``, or a folder in the temporary directory named after the storage,
    so that every worker serving the same storage on this host finds the same one."""
    if config.proxy is not None and config.proxy.lockdir:
        return Path(config.proxy.lockdir)
    parameters = config.storage.parameters
    where = "\0".join(
        str(parameters.get(key, "")) for key in ("rootdirectory", "bucket", "regionendpoint")
    )
    name = hashlib.sha256(f"{config.storage.driver}\0{where}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dockyard-proxy-{name}"
