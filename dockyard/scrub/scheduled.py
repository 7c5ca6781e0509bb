"""Scrubbing on a schedule inside the server: checks only, problems go to the log."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, cast

from dockyard.gc.lease import LeaseHeld, holding
from dockyard.gc.run import lease_for
from dockyard.scrub.scrub import Check, scrub

if TYPE_CHECKING:
    from dockyard.config import Config
    from dockyard.storage.driver.base import StorageDriver

logger = logging.getLogger("dockyard.scrub")


async def scrub_periodically(driver: StorageDriver, config: Config) -> None:
    """Scrub every ``interval`` (the first time after a random part of it, at most an hour).

    Every worker of every instance runs this loop; a lease lets one scrub at a time, and
    the checkpoint lets a scrub that a restart interrupted resume. Repairs are left to
    ``dockyard scrub --repair``.
    """
    settings = config.storage.scrub
    lease = lease_for(config, driver, "scrub")
    interval = settings.interval.total_seconds()
    await asyncio.sleep(random.uniform(0, min(interval, 3600.0)))
    while True:
        try:
            async with holding(lease):
                result = await scrub(
                    driver,
                    check=cast(Check, settings.check),
                    rate=settings.rate * 1_000_000 if settings.rate else None,
                )
            for problem in result.problems:
                logger.warning("scrub: %s", problem)
            logger.info("scrub: %s", result)
        except LeaseHeld:
            logger.debug("scrub: another instance is scrubbing; skipping this round")
        except Exception:
            logger.exception("scrub: failed; retrying at the next interval")
        await asyncio.sleep(interval)
