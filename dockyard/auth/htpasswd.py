"""Users and bcrypt password hashes from an Apache htpasswd file.

Only bcrypt entries (``htpasswd -B``) can be used. A line that cannot be (an MD5
``$apr1$``, crypt or SHA1 entry, a malformed line, a second line for the same user) is
refused and logged with its line number, and every other user works. The file is re-read
when its modification time, size or inode changes, so an edit (a user added, removed or
given a new password) takes effect without a restart; a file that goes missing or
unreadable lets nobody in, and says so in the log whenever it is checked (at most every
``UNAVAILABLE_LOG_INTERVAL`` seconds) until it is back.

Checking a password costs a bcrypt run (~100 ms at cost 10). It runs on a small pool of
threads of its own (never the one file I/O uses, so a flood of wrong passwords cannot
delay blob reads), with a bounded queue; concurrent checks of the same credentials share
one run, and a successful check is remembered briefly under an HMAC-SHA-256 of the
credentials (never the password itself). An unknown user name is checked against the
hash of a user of the file chosen by a keyed hash of the name, so it costs what the
users' own checks cost, whatever their bcrypt costs and after every reload. Failed
attempts are counted by ``dockyard.auth.ratelimit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import threading
import time
from asyncio import Future
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import bcrypt

from dockyard.auth.errors import AuthConfigError
from dockyard.auth.ratelimit import AttemptLimiter, TooManyAttempts
from dockyard.lru import ByteBoundedLRU

log = logging.getLogger(__name__)

_BCRYPT: Final = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
#: Successful checks remembered at most, and the memory they may hold (each charged its
#: user name plus ``_CACHE_ENTRY_BYTES``): past either, the least recently used go first.
_CACHE_LIMIT: Final = 4096
_CACHE_MAX_BYTES: Final = 1 << 20
_CACHE_ENTRY_BYTES: Final = 200
#: How often a missing or unreadable file is reported while requests keep checking it.
UNAVAILABLE_LOG_INTERVAL: Final = 30.0
#: bcrypt threads: half the cores (at least one), so password checks never take them all.
BCRYPT_WORKERS: Final = max(1, (os.cpu_count() or 2) // 2)
#: Password checks allowed to wait for a bcrypt thread; beyond that, 429 at once.
MAX_WAITING_CHECKS: Final = 64 * BCRYPT_WORKERS
_DEFAULT_COST: Final = 10
#: How much lower than serving threads bcrypt threads run (a nice value increment).
BCRYPT_NICENESS: Final = 10
_A = TypeVar("_A")
_R = TypeVar("_R")


def _kind_of(hashed: str) -> str:
    if hashed.startswith("$apr1$"):
        return "an MD5 (htpasswd -m) hash"
    if hashed.startswith("{SHA}"):
        return "a SHA1 (htpasswd -s) hash"
    if hashed.startswith(("$1$", "$5$", "$6$")) or re.fullmatch(r"[./A-Za-z0-9]{13}", hashed):
        return "a crypt hash"
    return "not a bcrypt hash"


@dataclass(frozen=True, slots=True)
class ParsedUsers:
    """The usable entries of an htpasswd file, and why each other line was refused."""

    entries: dict[str, bytes]
    refused: tuple[str, ...] = ()


def parse_htpasswd(text: str) -> ParsedUsers:
    """Parse htpasswd contents into ``{user: bcrypt hash}``, refusing unusable lines.

    A refusal names the line (and user) but never the hash. For a user on several lines
    the first one counts, as Apache does, and the others are refused.
    """
    entries: dict[str, bytes] = {}
    first_seen: dict[str, int] = {}
    refused: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            refused.append(f"line {number} is not of the form user:hash")
        elif not _BCRYPT.fullmatch(hashed):
            refused.append(
                f"line {number}: the entry for user {user!r} is {_kind_of(hashed)}; only "
                "bcrypt is supported (create entries with `htpasswd -B`)"
            )
        elif user in entries:
            refused.append(
                f"line {number}: user {user!r} already appears on line {first_seen[user]}"
            )
        else:
            entries[user] = hashed.encode("ascii")
            first_seen[user] = number
    return ParsedUsers(entries, tuple(refused))


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One parsed version of the file and the stat fields that identify it.

    ``stamp`` None: the file could not be read, and nobody may log in.
    """

    entries: dict[str, bytes]
    stamp: tuple[int, int, int] | None
    #: The entries' hashes in file order, to stand in for unknown user names.
    hashes: tuple[bytes, ...] = field(default=())


def _read(path: Path, key: str) -> tuple[_Snapshot, tuple[str, ...]]:
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError as e:
        raise AuthConfigError(key, f"cannot read the htpasswd file ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthConfigError(key, "the htpasswd file is not UTF-8 text") from None
    parsed = parse_htpasswd(text)
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    snapshot = _Snapshot(parsed.entries, stamp, tuple(parsed.entries.values()))
    return snapshot, parsed.refused


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class _BcryptPool:
    """The threads password checks run on, shared by every user file of the process."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self.waiting = 0

    async def check(self, password: str, hashed: bytes) -> bool:
        """Whether ``password`` matches ``hashed``; ``TooManyAttempts`` if the queue is full."""
        if self.waiting >= MAX_WAITING_CHECKS:
            raise TooManyAttempts(1, "too many password checks at once; retry shortly")
        self.waiting += 1
        try:
            return await self._run(_checkpw, password, hashed)
        finally:
            self.waiting -= 1

    async def hash(self, secret: bytes, cost: int) -> bytes:
        return await self._run(bcrypt.hashpw, secret, bcrypt.gensalt(cost))

    def _run(self, function: Callable[[_A, bytes], _R], first: _A, second: bytes) -> Future[_R]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                BCRYPT_WORKERS, thread_name_prefix="bcrypt", initializer=_lower_priority
            )
        return asyncio.get_running_loop().run_in_executor(self._executor, function, first, second)


BCRYPT_POOL: Final = _BcryptPool()


class HtpasswdFile:
    """The users of one htpasswd file, checked against passwords safely and cheaply.

    Successful checks are remembered for ``cache_ttl`` (as keyed hashes, never the
    passwords): at most ``_CACHE_LIMIT`` users holding at most ``_CACHE_MAX_BYTES`` (1 MiB).
    """

    def __init__(
        self,
        path: Path,
        *,
        key: str = "auth.htpasswd.path",
        check_interval: float = 1.0,
        cache_ttl: float = 30.0,
        limiter: AttemptLimiter | None = None,
    ) -> None:
        self._path = path
        self._key = key
        self._check_interval = check_interval
        self._cache_ttl = cache_ttl
        self._limiter = limiter if limiter is not None else AttemptLimiter()
        snapshot, refused = _read(path, key)
        self._report_refused(refused)
        self._snapshot = snapshot
        self._checked_at = time.monotonic()
        self._unavailable_logged_at = -math.inf
        self._cache_key = secrets.token_bytes(32)
        self._verified: ByteBoundedLRU[str, tuple[bytes, float]] = ByteBoundedLRU(
            _CACHE_MAX_BYTES, max_entries=_CACHE_LIMIT
        )
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}
        self._reload_lock = asyncio.Lock()
        self._no_users_hash: bytes | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def limiter(self) -> AttemptLimiter:
        return self._limiter

    def _report_refused(self, refused: tuple[str, ...]) -> None:
        for problem in refused:
            log.error("%s: refused %s", self._key, problem)

    async def refresh(self, *, force: bool = False) -> None:
        """Re-read the file if it changed since the last look (at most once per interval)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._check_interval:
            return
        async with self._reload_lock:
            if not force and now - self._checked_at < self._check_interval:
                return
            self._checked_at = time.monotonic()
            stamp = await asyncio.to_thread(_stamp, self._path)
            if stamp is not None and stamp == self._snapshot.stamp:
                return
            try:
                if stamp is None:
                    raise AuthConfigError(self._key, "the htpasswd file is missing or unreadable")
                snapshot, refused = await asyncio.to_thread(_read, self._path, self._key)
            except AuthConfigError as e:
                self._unavailable(e)
                return
            self._report_refused(refused)
            self._replace(snapshot)
            log.info(
                "htpasswd file reloaded: %d user(s), %d line(s) refused",
                len(snapshot.entries),
                len(refused),
            )

    def _unavailable(self, error: AuthConfigError) -> None:
        """Nobody logs in while the file cannot be read; say so now and then."""
        if self._snapshot.stamp is not None:
            self._replace(_Snapshot({}, None))
            self._unavailable_logged_at = -math.inf
        now = time.monotonic()
        if now - self._unavailable_logged_at >= UNAVAILABLE_LOG_INTERVAL:
            self._unavailable_logged_at = now
            log.error("%s; nobody can log in until it can be read again", error)

    def _replace(self, snapshot: _Snapshot) -> None:
        self._snapshot = snapshot
        self._verified.clear()

    async def fingerprint(self, username: str) -> str | None:
        """A short digest of the user's current hash (changes when the password does)."""
        await self.refresh()
        hashed = self._snapshot.entries.get(username)
        if hashed is None:
            return None
        return hashlib.sha256(b"dockyard-htpasswd\0" + hashed).hexdigest()[:16]

    def _credential_digest(self, username: str, password: str) -> bytes:
        message = (
            username.encode("utf-8", "surrogatepass")
            + b"\0"
            + password.encode("utf-8", "surrogatepass")
        )
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    async def verify(self, username: str, password: str, address: str | None = None) -> bool:
        """True when ``password`` is the user's password; takes bcrypt time when not cached.

        Raises ``TooManyAttempts`` (before any bcrypt work) when the address or the user
        name has failed too often; a failure here counts against both.
        """
        await self.refresh()
        digest = self._credential_digest(username, password)
        cached = self._verified.get(username)
        if (
            cached is not None
            and cached[1] > time.monotonic()
            and hmac.compare_digest(cached[0], digest)
        ):
            return True
        self._limiter.check(username, address)
        pending = self._inflight.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._check(username, password, digest))
            self._inflight[digest] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(digest, None))
        ok = await asyncio.shield(pending)
        if ok:
            self._limiter.succeeded(username)
        else:
            self._limiter.failed(username, address)
        return ok

    async def _stand_in(self, snapshot: _Snapshot, username: str) -> bytes:
        """The hash an unknown user name is checked against: a user's of the file, picked
        by a keyed hash of the name (so the same name always costs the same)."""
        if snapshot.hashes:
            name = username.encode("utf-8", "surrogatepass")
            pick = hmac.new(self._cache_key, b"stand-in\0" + name, hashlib.sha256)
            index = int.from_bytes(pick.digest()[:8], "big") % len(snapshot.hashes)
            return snapshot.hashes[index]
        if self._no_users_hash is None:
            self._no_users_hash = await BCRYPT_POOL.hash(secrets.token_bytes(16), _DEFAULT_COST)
        return self._no_users_hash

    async def _check(self, username: str, password: str, digest: bytes) -> bool:
        snapshot = self._snapshot
        hashed = snapshot.entries.get(username)
        candidate = hashed if hashed is not None else await self._stand_in(snapshot, username)
        ok = await BCRYPT_POOL.check(password, candidate)
        if not ok or hashed is None:
            return False
        if snapshot is not self._snapshot:
            return True  # the file changed meanwhile: right now, but not worth remembering
        self._remember(username, digest)
        return True

    def _remember(self, username: str, digest: bytes) -> None:
        """Remember a successful check, within ``_CACHE_LIMIT`` and ``_CACHE_MAX_BYTES``."""
        expires = time.monotonic() + self._cache_ttl
        self._verified.put(username, (digest, expires), len(username) + _CACHE_ENTRY_BYTES)

    @property
    def cached_bytes(self) -> int:
        """The memory the remembered checks hold, as charged against ``_CACHE_MAX_BYTES``."""
        return self._verified.charged_bytes


def _lower_priority() -> None:
    """Run this bcrypt thread at a lower CPU priority than the threads serving requests
    (Linux sets the nice value per thread), so a flood of password checks yields the
    cores to the event loop and file I/O rather than slowing them down."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BCRYPT_NICENESS)


def _checkpw(password: str, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8", "surrogatepass"), hashed)
    except ValueError:
        return False
