"""The ``sync`` section's jobs, run by ``dockyard serve`` every ``sync.interval``.

Every worker of every instance runs this loop, but under one lease, and a run records
when it ended in the storage: whoever gets the lease next skips the run when another
did it less than an interval ago. So the jobs run once per interval, whatever the
number of workers and instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import TYPE_CHECKING, Final

from dockyard.proxy.assemble import build_leases
from dockyard.proxy.client import UpstreamClient
from dockyard.proxy.settings import UpstreamConfig
from dockyard.storage.driver.base import PathNotFound
from dockyard.sync.copy import SyncFilter, sync
from dockyard.sync.platforms import PlatformFilter
from dockyard.sync.semver import VersionRange
from dockyard.sync.settings import SyncJobConfig

if TYPE_CHECKING:
    from dockyard.assembly import Assembly
    from dockyard.storage.protocols import Registry

logger = logging.getLogger("dockyard.sync")

LAST_RUN: Final = "/dockyard/sync/last-run"


async def sync_periodically(assembly: Assembly) -> None:
    """Run the configured jobs now and then every ``sync.interval``, until cancelled."""
    settings = assembly.config.sync
    assert settings is not None
    interval = settings.interval.total_seconds()
    leases = build_leases(assembly.config)
    driver = assembly.driver
    while True:
        async with leases.hold("sync"):
            last = None
            with contextlib.suppress(PathNotFound, ValueError):
                last = float(await driver.get_content(LAST_RUN))
            if last is None or time.time() - last >= interval * 0.9:
                for job in settings.jobs:
                    await run_job(job, assembly.services)
                await driver.put_content(LAST_RUN, b"%f" % time.time())
        await asyncio.sleep(interval)


async def run_job(job: SyncJobConfig, registry: Registry) -> None:
    """One job, once; a failure is logged, and retried at the next interval."""
    source = UpstreamClient(
        UpstreamConfig(
            name=f"sync source {job.url}",
            url=job.url,
            username=job.username,
            password=job.password,
            ratelimit=job.ratelimit,
        )
    )
    selection = SyncFilter(
        job.repositories,
        job.prefix,
        re.compile(job.tags) if job.tags else None,
        VersionRange(job.semver) if job.semver else None,
        PlatformFilter.parse(job.platforms),
    )
    try:
        report = await sync(source, registry, selection, lambda message: None)
        logger.info(
            "sync from %s: %d tag(s) copied, %d current, %d blob(s), %d bytes",
            job.url,
            len(report.tags_copied),
            len(report.tags_current),
            report.blobs,
            report.bytes,
        )
    except Exception as error:
        logger.warning(
            "sync from %s failed (%s: %s); retrying at the next interval",
            job.url,
            type(error).__name__,
            getattr(error, "message", error),
        )
    finally:
        await source.close()
