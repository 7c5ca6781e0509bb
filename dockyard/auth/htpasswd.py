"""Users and bcrypt password hashes from an Apache htpasswd file.

Only bcrypt entries (``htpasswd -B``) are accepted; any other hash kind is a start-up
error naming its line. The file is re-read when its modification time, size or inode
changes, so users can be added without a restart (a broken edit keeps the last good
contents and logs the line at fault).

Checking a password costs a bcrypt run (~100 ms at cost 10), so it runs in a worker
thread, concurrent checks of the same credentials share one run, and a successful check
is remembered briefly under an HMAC-SHA-256 of the credentials (never the password
itself). Unknown users are checked against a dummy hash so that timing does not reveal
which usernames exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import bcrypt

from dockyard.auth.errors import AuthConfigError

log = logging.getLogger(__name__)

_BCRYPT: Final = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_CACHE_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One parsed version of the file and the stat fields that identify it."""

    entries: dict[str, bytes]
    stamp: tuple[int, int, int]


def parse_htpasswd(text: str, key: str) -> dict[str, bytes]:
    """Parse htpasswd contents into ``{user: bcrypt hash}``; errors name ``key`` and the line."""
    entries: dict[str, bytes] = {}
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise AuthConfigError(key, f"line {number} is not of the form user:hash")
        if not _BCRYPT.fullmatch(hashed):
            raise AuthConfigError(
                key,
                f"line {number}: the entry for user {user!r} is not a bcrypt hash "
                "(only bcrypt is supported; create entries with `htpasswd -B`)",
            )
        if user in entries:
            raise AuthConfigError(
                key, f"line {number}: user {user!r} already appears on line {first_seen[user]}"
            )
        entries[user] = hashed.encode("ascii")
        first_seen[user] = number
    return entries


def _read(path: Path, key: str) -> _Snapshot:
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
    return _Snapshot(parse_htpasswd(text, key), (st.st_mtime_ns, st.st_size, st.st_ino))


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class HtpasswdFile:
    """The users of one htpasswd file, checked against passwords safely and cheaply."""

    def __init__(
        self,
        path: Path,
        *,
        key: str = "auth.htpasswd.path",
        check_interval: float = 1.0,
        cache_ttl: float = 30.0,
    ) -> None:
        self._path = path
        self._key = key
        self._check_interval = check_interval
        self._cache_ttl = cache_ttl
        self._snapshot = _read(path, key)
        self._checked_at = time.monotonic()
        self._cache_key = secrets.token_bytes(32)
        self._verified: dict[str, tuple[bytes, float]] = {}
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}
        self._reload_lock = asyncio.Lock()
        self._dummy_hash = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(self._cost()))

    @property
    def path(self) -> Path:
        return self._path

    def _cost(self) -> int:
        for hashed in self._snapshot.entries.values():
            match = _BCRYPT.fullmatch(hashed.decode("ascii"))
            if match:
                return int(match.group(1))
        return 10

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
            if stamp is None or stamp == self._snapshot.stamp:
                return
            try:
                snapshot = await asyncio.to_thread(_read, self._path, self._key)
            except AuthConfigError as e:
                log.error("htpasswd file changed but cannot be used, keeping the old one: %s", e)
                return
            self._snapshot = snapshot
            self._verified.clear()
            log.info("htpasswd file reloaded: %d user(s)", len(snapshot.entries))

    async def fingerprint(self, username: str) -> str | None:
        """A short digest of the user's current hash (changes when the password does)."""
        await self.refresh()
        hashed = self._snapshot.entries.get(username)
        if hashed is None:
            return None
        return hashlib.sha256(b"dockyard-htpasswd\0" + hashed).hexdigest()[:16]

    def _credential_digest(self, username: str, password: str) -> bytes:
        message = username.encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    async def verify(self, username: str, password: str) -> bool:
        """True when ``password`` is the user's password; takes bcrypt time when not cached."""
        await self.refresh()
        digest = self._credential_digest(username, password)
        cached = self._verified.get(username)
        if (
            cached is not None
            and cached[1] > time.monotonic()
            and hmac.compare_digest(cached[0], digest)
        ):
            return True
        pending = self._inflight.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._check(username, password, digest))
            self._inflight[digest] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(digest, None))
        return await asyncio.shield(pending)

    async def _check(self, username: str, password: str, digest: bytes) -> bool:
        snapshot = self._snapshot
        hashed = snapshot.entries.get(username)
        candidate = hashed if hashed is not None else self._dummy_hash
        ok = await asyncio.to_thread(_checkpw, password, candidate)
        if not ok or hashed is None:
            return False
        if snapshot is not self._snapshot:
            return True  # the file changed meanwhile: right now, but not worth remembering
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[username] = (digest, time.monotonic() + self._cache_ttl)
        return True


def _checkpw(password: str, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed)
    except ValueError:
        return False
