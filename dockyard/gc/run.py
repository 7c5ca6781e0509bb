"""Running a collection: under the lease, from ``dockyard gc`` or on a schedule in the server."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from dockyard.gc.lease import LEASE_TTL, Lease, LeaseHeld, RedisLease, StorageLease, holding
from dockyard.gc.report import CollectionRun, record_collection
from dockyard.observability.metrics import job_runs
from dockyard.storage import paths
from dockyard.storage.gc import GCResult, Progress, collect_garbage

if TYPE_CHECKING:
    from dockyard.config import Config
    from dockyard.storage.cache.base import BlobDescriptorCache
    from dockyard.storage.driver.base import StorageDriver

logger = logging.getLogger("dockyard.gc")


@dataclass(frozen=True, slots=True)
class Options:
    """What one collection does."""

    dry_run: bool = False
    delete_untagged: bool = False
    keep_orphan_referrers: bool = False
    grace: timedelta = timedelta(hours=1)
    #: Remove upload sessions (and S3 multipart uploads) older than this; None: keep.
    purge_uploads_after: timedelta | None = None
    #: How long the collector's lease and marker last unrenewed.
    lease: timedelta = LEASE_TTL


def options_from(config: Config) -> Options:
    """The collection ``storage.maintenance`` configures."""
    settings = config.storage.gc
    purging = config.storage.uploadpurging
    return Options(
        delete_untagged=settings.deleteuntagged,
        keep_orphan_referrers=settings.keeporphanreferrers,
        grace=settings.grace,
        purge_uploads_after=purging.age if purging.enabled and not purging.dryrun else None,
        lease=settings.lease,
    )


def lease_for(
    config: Config, driver: StorageDriver, job: str = "gc", ttl: timedelta = LEASE_TTL
) -> Lease:
    """The lease of ``job`` every instance of this configuration shares: in Redis if
    configured, else in storage; it lasts ``ttl`` unrenewed."""
    if config.redis is not None:
        from redis.asyncio import Redis

        from dockyard.storage.cache.redis import connection_pool

        client = Redis(connection_pool=connection_pool(config.redis))
        return RedisLease(client, ttl=ttl, key=f"dockyard::{job}::lease")
    return StorageLease(driver, ttl=ttl, path=f"{paths.DOCKYARD}/{job}/lease")


async def collect_once(
    driver: StorageDriver,
    cache: BlobDescriptorCache | None,
    lease: Lease,
    options: Options,
    progress: Progress | None = None,
) -> GCResult:
    """One collection under ``lease``; ``LeaseHeld`` if another collector holds it.

    A dry run deletes nothing and takes no lease; it records its result like any run.
    """
    if options.dry_run:
        return await _collect(driver, cache, options, progress)
    async with holding(lease, options.lease):
        return await _collect(driver, cache, options, progress)


async def _collect(
    driver: StorageDriver,
    cache: BlobDescriptorCache | None,
    options: Options,
    progress: Progress | None,
) -> GCResult:
    """One collection, its result recorded in storage for the status page."""
    started = datetime.now(UTC)
    result = await collect_garbage(
        driver,
        dry_run=options.dry_run,
        remove_untagged=options.delete_untagged,
        grace=options.grace,
        cache=cache,
        keep_orphan_referrers=options.keep_orphan_referrers,
        progress=progress,
        purge_uploads_after=options.purge_uploads_after,
        lease=options.lease,
    )
    await record_collection(driver, CollectionRun.of(result, started, datetime.now(UTC)))
    return result


async def collect_periodically(
    driver: StorageDriver, cache: BlobDescriptorCache | None, config: Config
) -> None:
    """Collect every ``storage.maintenance.gc.interval`` while the server runs."""
    options = options_from(config)

    async def collect() -> None:
        logger.info("gc: %s", await _collect(driver, cache, options, None))

    lease = lease_for(config, driver, ttl=options.lease)
    await every(config.storage.gc.interval, lease, "gc", collect, options.lease)


async def every(
    interval: timedelta,
    lease: Lease,
    job: str,
    run: Callable[[], Awaitable[None]],
    ttl: timedelta = LEASE_TTL,
) -> None:
    """Run ``job`` every ``interval`` under ``lease``, for as long as the server runs.

    Every worker of every instance runs such a loop; the lease lets one run at a time and
    the others skip that round. The first round waits a random part of the interval (at
    most an hour), so instances started together do not all try at once.
    """
    runs = job_runs(job)
    seconds = interval.total_seconds()
    await asyncio.sleep(random.uniform(0, min(seconds, 3600.0)))
    while True:
        try:
            async with holding(lease, ttl):
                await run()
            runs.inc(("success",))
        except LeaseHeld:
            logger.debug("%s: another instance holds the lease; skipping this round", job)
        except Exception:
            runs.inc(("failure",))
            logger.exception("%s: failed; retrying at the next interval", job)
        await asyncio.sleep(seconds)
