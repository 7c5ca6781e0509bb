"""Delivering an endpoint's queued events: batches in order, retries, the dead-letter list.

A batch that fails is retried (the events after it wait, keeping the order): at once
while the endpoint has failed fewer than ``threshold`` times in a row, then after
``backoff`` doubling with every further failure (at most ``MAX_BACKOFF``), each delay
jittered so that instances do not retry in step. After ``maxretries`` failed attempts
(when set) the batch goes to the dead-letter list, which ``dockyard events`` lists and
replays, and delivery goes on. Failures are logged rate-limited, not once per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
from collections import Counter
from typing import Final

import httpx
from redis.exceptions import RedisError

from dockyard.config.model import EndpointConfig
from dockyard.notifications.events import (
    CLOUDEVENTS_BATCH_MEDIA_TYPE,
    ENVELOPE_MEDIA_TYPE,
    cloudevents,
    envelope,
)
from dockyard.notifications.queue import DeliveryQueue, Entry
from dockyard.observability.metrics import METRICS
from dockyard.storage.cache.base import RateLimitedWarning

logger = logging.getLogger("dockyard.notifications")

#: Events per request at most: a backlog (or a busy registry's pulls) goes in few requests
#: (an event is about 700 bytes, so a full envelope stays under a megabyte).
BATCH_SIZE: Final = 1024
#: The longest wait between two attempts.
MAX_BACKOFF: Final = 300.0
#: How long a deliverer waits after sending a batch that was not full.
LINGER_SECONDS: Final = 0.1
#: How often an idle deliverer looks for new events, and a follower for the lead.
POLL_SECONDS: Final = 0.2
LEAD_POLL_SECONDS: Final = 2.0
#: How often the pending count is taken and finished segments are removed.
STATS_SECONDS: Final = 5.0
#: The header carrying ``sha256=<hex HMAC of the body>`` when a signing secret is set.
SIGNATURE_HEADER: Final = "X-Dockyard-Signature-256"


#: What a failing queue raises (a Redis error, a full disk); anything else is a bug.
QUEUE_FAILURES: Final = (OSError, TimeoutError, RedisError)


def retry_delay(failures: int, endpoint: EndpointConfig) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (jittered)."""
    if failures < endpoint.threshold:
        return 0.0
    base = endpoint.backoff.total_seconds() * 2 ** (failures - endpoint.threshold)
    return float(min(base, MAX_BACKOFF) * random.uniform(0.5, 1.0))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class DeliveryFailed(Exception):
    """The endpoint did not accept a batch; the message says how."""


class Deliverer:
    """Sends one endpoint's queue, while this process holds the endpoint's lead.

    When the queue fails (Redis unreachable), delivery waits and tries again; a lead
    that was lost (another instance took over) is waited for again.
    """

    def __init__(self, endpoint: EndpointConfig, queue: DeliveryQueue) -> None:
        self.endpoint = endpoint
        self.queue = queue
        self.wakeup = asyncio.Event()
        self.warning = RateLimitedWarning(logger)
        self._client: httpx.AsyncClient | None = None

    def _headers(self, body: bytes) -> list[tuple[str, str]]:
        endpoint = self.endpoint
        media_type = (
            CLOUDEVENTS_BATCH_MEDIA_TYPE
            if endpoint.format == "cloudevents"
            else ENVELOPE_MEDIA_TYPE
        )
        headers = [("Content-Type", media_type)]
        headers += [(k, v) for k, values in endpoint.headers.items() for v in values]
        if endpoint.signing_secret:
            headers.append((SIGNATURE_HEADER, sign(endpoint.signing_secret, body)))
        return headers

    async def send(self, entries: list[Entry]) -> None:
        """POST one batch; ``DeliveryFailed`` unless the endpoint answers 2xx or 3xx."""
        if self.endpoint.format == "cloudevents":
            body = cloudevents([entry.event for entry in entries])
        else:
            body = envelope([entry.raw for entry in entries])
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.endpoint.timeout.total_seconds(), follow_redirects=False
            )
        name = self.endpoint.name
        try:
            response = await self._client.post(
                self.endpoint.url, content=body, headers=self._headers(body)
            )
        except httpx.HTTPError as error:
            METRICS.notification_status.inc(("error", name))
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        METRICS.notification_status.inc((str(response.status_code), name))
        if not 200 <= response.status_code < 400:
            raise DeliveryFailed(f"the endpoint answered {response.status_code}")

    async def run(self) -> None:
        """Lead (or wait for the lead), then deliver until cancelled."""
        try:
            while True:
                try:
                    if await self.queue.lead():
                        await self._deliver()
                except QUEUE_FAILURES as error:
                    self.warning.warn(
                        "notifications to %s: the queue failed: %s: %s",
                        self.endpoint.name,
                        type(error).__name__,
                        error,
                    )
                # The lead is held elsewhere: nothing here could signal its release.
                await asyncio.sleep(LEAD_POLL_SECONDS)
        finally:
            await self.queue.release()
            if self._client is not None:
                with contextlib.suppress(Exception):
                    await self._client.aclose()

    async def _deliver(self) -> None:
        endpoint = self.endpoint
        name = endpoint.name
        failures = 0
        attempts = 0
        counted = 0.0
        while await self.queue.still_leading():
            now = asyncio.get_running_loop().time()
            if now - counted >= STATS_SECONDS:
                counted = now
                METRICS.notification_pending.set((name,), await self.queue.pending())
            entries = await self.queue.next_batch(BATCH_SIZE)
            if not entries:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), POLL_SECONDS)
                continue
            try:
                await self.send(entries)
            except DeliveryFailed as error:
                failures += 1
                attempts += 1
                for action, count in Counter(entry.action for entry in entries).items():
                    METRICS.notification_events.inc(("Failures", action, name), count)
                self.warning.warn("notifications to %s failing: %s", name, error)
                if endpoint.maxretries and attempts >= endpoint.maxretries:
                    reason = f"{attempts} attempts failed, the last: {error}"
                    await self.queue.dead_letter(entries, reason)
                    METRICS.notification_dead_letters.inc((name,), len(entries))
                    logger.warning(
                        "notifications to %s: %d event(s) moved to the dead-letter list",
                        name,
                        len(entries),
                    )
                    attempts = 0
                await asyncio.sleep(retry_delay(failures, endpoint))
                continue
            if failures:
                logger.info("notifications to %s delivered again", name)
            failures = attempts = 0
            await self.queue.advance(entries)
            for action, count in Counter(entry.action for entry in entries).items():
                METRICS.notification_events.inc(("Successes", action, name), count)
            if len(entries) < BATCH_SIZE:
                # A steady trickle (a busy registry's pulls) goes in fewer, fuller requests.
                await asyncio.sleep(LINGER_SECONDS)
