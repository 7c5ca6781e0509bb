"""Limiting failed password attempts, per client address and per user name.

Configured under ``auth.ratelimit`` (``dockyard.config``)::

    auth:
      ratelimit:
        attempts: 10     # failed attempts allowed within the window (0: no limit)
        window: 1m       # how long a failure counts
        lockout: 5m      # how long further attempts are refused once the limit is hit
        maxentries: 10000  # addresses (and, apart, user names) remembered at most
        trustedproxies: [10.0.0.0/8]  # peers whose X-Forwarded-For names the client

Once an address or a user name reaches ``attempts`` failures within ``window``, every
attempt from that address or for that user that would need a password check is refused
with 429 ``TOOMANYREQUESTS`` and ``Retry-After`` until ``lockout`` has passed, before
any bcrypt work is done. Credentials that were verified recently are still accepted
during a lockout (they need no password check), so the clients of a user under attack
keep working. A success clears the user name's count, never the address's.

The client address is the connection's peer. Behind a reverse proxy every client would
share the proxy's address, so a peer in ``trustedproxies`` (addresses or networks) is
looked through: the client is the last ``X-Forwarded-For`` hop that is not itself a
trusted proxy. ``X-Forwarded-For`` from any other peer is ignored (anyone can send it).

The tables are bounded: each holds at most ``maxentries`` records of fixed size (keys are
16-byte keyed hashes, whatever the length of the name), the least recently failed being
forgotten first, so a flood of ever new names cannot grow memory: at most
``RECORD_BYTES`` per record, about 3 MiB per table at the default 10,000.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from dockyard.config.model import IPNetwork
from dockyard.errors import TooManyRequests

if TYPE_CHECKING:
    from dockyard.config.model import AuthRateLimitConfig

log = logging.getLogger(__name__)


#: About what one remembered address or user name costs (key, record, table slot).
ENTRY_BYTES: Final = 320
_FULL_WARNING_INTERVAL: Final = 60.0


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    """How many failed attempts are allowed, over what time, and for how long a lockout
    lasts (seconds); ``attempts`` 0 turns limiting off."""

    attempts: int = 10
    window: float = 60.0
    lockout: float = 300.0
    max_entries: int = 10_000
    trusted_proxies: tuple[IPNetwork, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.attempts > 0


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]
) -> str | None:
    """The address attempts are counted against: ``peer``, or, when ``peer`` is a trusted
    proxy, the last ``X-Forwarded-For`` hop that is not one."""
    if peer is None or not trusted or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        if not _is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a malformed hop: count against the proxy rather than trust it
    return peer


def _is_trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class TooManyAttempts(TooManyRequests):
    """Too many failed attempts: retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, detail={"retryAfter": self.retry_after})


#: The memory one record holds at most: its key, its slots, and the ordered dict's entry.
RECORD_BYTES: Final = 320


class _Record:
    """Failures counted since ``started``, and the end of a lockout (0: none)."""

    __slots__ = ("count", "locked_until", "started")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.started = now
        self.locked_until = 0.0


class _Table:
    """Failure records by keyed hash, at most ``limit`` of them (least recent dropped)."""

    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        self._records: OrderedDict[bytes, _Record] = OrderedDict()
        self._key = secrets.token_bytes(16)
        self._warned_at = -math.inf

    def _hash(self, value: str) -> bytes:
        data = value.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=16, key=self._key).digest()

    def locked_for(self, value: str, now: float) -> float:
        """Seconds left of a lockout of ``value`` (0 when it may try)."""
        record = self._records.get(self._hash(value))
        if record is None or record.locked_until <= now:
            return 0.0
        return record.locked_until - now

    def fail(self, value: str, now: float, policy: AttemptPolicy) -> bool:
        """Count a failure; True when it starts a lockout."""
        key = self._hash(value)
        record = self._records.get(key)
        if record is None:
            record = _Record(now)
            self._records[key] = record
            if len(self._records) > self.limit:
                self._records.popitem(last=False)
                self._warn_full(now)
        else:
            self._records.move_to_end(key)
        if now - record.started > policy.window:
            record.count, record.started = 0, now
        record.count += 1
        if record.count >= policy.attempts and record.locked_until <= now:
            record.locked_until = now + policy.lockout
            record.count, record.started = 0, now
            return True
        return False

    def clear(self, value: str) -> None:
        self._records.pop(self._hash(value), None)

    def __len__(self) -> int:
        return len(self._records)

    def _warn_full(self, now: float) -> None:
        if now - self._warned_at >= _FULL_WARNING_INTERVAL:
            self._warned_at = now
            log.warning(
                "failed-attempt table of %s is full (%d entries): forgetting the oldest; "
                "raise auth.ratelimit.maxentries if this is not an attack",
                self.what,
                self.limit,
            )


class AttemptLimiter:
    """The failed-attempt tables of one process: one by client address, one by user."""

    def __init__(
        self, policy: AttemptPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy if policy is not None else AttemptPolicy()
        self.clock = clock
        self.addresses = _Table("client addresses", self.policy.max_entries)
        self.users = _Table("user names", self.policy.max_entries)

    def address_of(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client address of a request from ``peer`` (see ``client_address``)."""
        return client_address(peer, forwarded_for, self.policy.trusted_proxies)

    def check(self, username: str, address: str | None) -> None:
        """Raise ``TooManyAttempts`` if the address or the user name is locked out."""
        if not self.policy.enabled:
            return
        now = self.clock()
        if address is not None:
            wait = self.addresses.locked_for(address, now)
            if wait > 0:
                raise TooManyAttempts(wait, "too many failed attempts from this address")
        wait = self.users.locked_for(username, now)
        if wait > 0:
            raise TooManyAttempts(wait, "too many failed attempts for this user")

    def failed(self, username: str, address: str | None) -> None:
        """Count a failed attempt against both the address and the user name."""
        if not self.policy.enabled:
            return
        now = self.clock()
        if address is not None and self.addresses.fail(address, now, self.policy):
            log.warning(
                "locking out client %s for %.0fs after %d failed attempts",
                address,
                self.policy.lockout,
                self.policy.attempts,
            )
        if self.users.fail(username, now, self.policy):
            log.warning(
                "locking out user %r for %.0fs after %d failed attempts",
                username[:64],
                self.policy.lockout,
                self.policy.attempts,
            )

    def succeeded(self, username: str) -> None:
        """A right password: the user name's count starts again."""
        if self.policy.enabled:
            self.users.clear(username)


def policy_of(limits: AuthRateLimitConfig) -> AttemptPolicy:
    """The policy ``auth.ratelimit`` describes."""
    return AttemptPolicy(
        attempts=limits.attempts,
        window=limits.window.total_seconds(),
        lockout=limits.lockout.total_seconds(),
        max_entries=limits.maxentries,
        trusted_proxies=limits.trustedproxies,
    )
