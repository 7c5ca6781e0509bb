"""Waiting out a source that asks to slow down, so that a sync finishes rather than stops.

The proxy answers a 429 from its upstream at once (it serves its cache instead); a sync
has nothing to serve and is not in a hurry: it waits the ``Retry-After`` the source gave
and asks again, a bounded number of times in a row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from dockyard.proxy.client import UpstreamClient, UpstreamUnavailable

logger = logging.getLogger("dockyard.sync")

T = TypeVar("T")

#: 429s in a row for one request after which the sync gives up.
PATIENCE: Final = 8
#: The longest wait for one ``Retry-After``, in seconds; a source asking for more has
#: rate-limited the sync for the day, and saying so beats hanging.
LONGEST_WAIT: Final = 600.0


async def patiently(source: UpstreamClient, request: Callable[[], Awaitable[T]]) -> T:
    """``request()``, asked again after each 429 once the source's ``Retry-After`` passed."""
    attempt = 0
    while True:
        try:
            return await request()
        except UpstreamUnavailable as error:
            attempt += 1
            wait = source.blocked_for
            if not error.rate_limited or attempt >= PATIENCE or wait > LONGEST_WAIT:
                raise
            logger.warning("sync: %s asks to wait; retrying in %.0fs", source.name, wait)
            await asyncio.sleep(wait)
