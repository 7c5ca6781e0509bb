"""Scrubbing on a schedule inside the server: checks only, problems go to the log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from dockyard.gc.run import every, lease_for
from dockyard.scrub.scrub import Check, scrub

if TYPE_CHECKING:
    from dockyard.config import Config
    from dockyard.storage.driver.base import StorageDriver

logger = logging.getLogger("dockyard.scrub")


async def scrub_periodically(driver: StorageDriver, config: Config) -> None:
    """Scrub every ``storage.maintenance.scrub.interval``, one instance at a time.

    The checkpoint lets a scrub that a restart interrupted resume. Repairs are left to
    ``dockyard scrub --repair``.
    """
    settings = config.storage.scrub

    async def check() -> None:
        result = await scrub(
            driver,
            check=cast(Check, settings.check),
            rate=settings.rate * 1_000_000 if settings.rate else None,
        )
        for problem in result.problems:
            logger.warning("scrub: %s", problem)
        logger.info("scrub: %s", result)

    await every(settings.interval, lease_for(config, driver, "scrub"), "scrub", check)
