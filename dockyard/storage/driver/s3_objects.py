"""Reads of one small S3 object (GET and HEAD), signed here rather than by the SDK.

The S3 driver reads link files, manifests and descriptors on every request it serves, one
object each, and through the SDK each read runs botocore's whole per-request pipeline
(event hooks, endpoint rules, user-agent building, response parsing): several times the
CPU of the request itself. These reads are plain enough to make directly: the driver's
aiohttp session, a Signature Version 4 signature of the request's empty body (its signing
key derived once per day), and the endpoint, bucket addressing and credentials the SDK
client resolved, so both reach the same object the same way.

Everything else the driver does (writes, multipart uploads, listings, copies, deletes,
streamed reads, presigned URLs) goes through the SDK.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import random
import re
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, urlsplit

import aiohttp

#: Attempts per read, as the SDK's standard retry mode makes.
ATTEMPTS: Final = 3
#: Statuses worth another attempt: throttling and the server's transient failures.
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: What every read signs as its payload: the hash of its empty body.
_EMPTY_PAYLOAD: Final = hashlib.sha256(b"").hexdigest()
_ERROR_CODE: Final = re.compile(rb"<Code>([A-Za-z0-9.]{1,64})</Code>")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request is signed with; ``token`` for temporary credentials."""

    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectResponse:
    """A successful read: the object's size, last modification and (for GET) body."""

    size: int
    modified: datetime
    body: bytes


class ObjectReadError(Exception):
    """A read failed: ``code`` is S3's error code (``NoSuchKey`` when there is none)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Signer:
    """Signature Version 4 for S3 requests without a body, in one region."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}

    def headers(
        self, method: str, host: str, path: str, credentials: Credentials, now: datetime
    ) -> dict[str, str]:
        """The headers that authenticate ``method path`` on ``host`` at ``now``."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        headers = {"host": host, "x-amz-content-sha256": _EMPTY_PAYLOAD, "x-amz-date": stamp}
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        names = ";".join(sorted(headers))
        canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
        canonical = f"{method}\n{path}\n\n{canonical_headers}\n{names}\n{_EMPTY_PAYLOAD}"
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        key = self._signing_key(credentials.secret_key, day)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        del headers["host"]  # aiohttp sends it, from the URL
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        return headers

    def _signing_key(self, secret: str, day: str) -> bytes:
        key = self._keys.get((secret, day))
        if key is None:
            key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {(secret, day): key}  # one day's key at a time
        return key


class ObjectReads:
    """GET and HEAD of single objects in one bucket.

    ``object_url`` is the URL of an object whose key is ``probe_key``, as the SDK would
    address it (``generate_presigned_url`` without its query): every other key is
    addressed the same way, through the proxy the environment names, as the SDK does.
    ``credentials`` returns the current credentials (None to send requests unsigned),
    refreshing temporary ones as the SDK does.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        object_url: str,
        probe_key: str,
        region: str,
        credentials: Callable[[], Awaitable[Credentials | None]],
    ) -> None:
        parts = urlsplit(object_url)
        self._proxy = _environment_proxy(parts.scheme, parts.hostname or "")
        if not parts.path.endswith(quote(probe_key, safe="/~")):
            raise ValueError("the object URL does not end with the probe key")
        self._session = session
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.netloc
        self._prefix = parts.path[: len(parts.path) - len(quote(probe_key, safe="/~"))]
        self._signer = Signer(region)
        self._credentials = credentials

    async def get(self, key: str) -> ObjectResponse:
        """The object's content; ``ObjectReadError`` when it cannot be read."""
        return await self._request("GET", key)

    async def head(self, key: str) -> ObjectResponse:
        """The object's size and modification time (an empty ``body``)."""
        return await self._request("HEAD", key)

    async def _request(self, method: str, key: str) -> ObjectResponse:
        path = self._prefix + quote(key, safe="/~")
        for attempt in range(ATTEMPTS):
            credentials = await self._credentials()
            headers = (
                {}
                if credentials is None
                else self._signer.headers(method, self._host, path, credentials, datetime.now(UTC))
            )
            last = attempt == ATTEMPTS - 1
            try:
                async with self._session.request(
                    method,
                    self._origin + path,
                    headers=headers,
                    allow_redirects=False,
                    proxy=self._proxy,
                ) as response:
                    body = await response.read()
                    status = response.status
                    if status == 200:
                        return ObjectResponse(
                            int(response.headers.get("Content-Length", len(body))),
                            _modified(response.headers.get("Last-Modified")),
                            body if method == "GET" else b"",
                        )
            except (TimeoutError, aiohttp.ClientError):
                if last:
                    raise
                await _back_off(attempt)
                continue
            if status == 404:
                raise ObjectReadError("NoSuchKey")
            if status not in _RETRY_STATUSES or last:
                found = _ERROR_CODE.search(body)
                raise ObjectReadError(found.group(1).decode() if found else str(status))
            await _back_off(attempt)
        raise AssertionError("unreachable")  # every attempt returns, raises or continues


def _environment_proxy(scheme: str, host: str) -> str | None:
    """The proxy the environment names for ``scheme`` (``HTTPS_PROXY``…), unless ``NO_PROXY``
    exempts ``host``: looked up once, where the session would look it up per request."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(host):
        return None
    return proxies.get(scheme)


def _modified(header: str | None) -> datetime:
    if header:
        try:
            return email.utils.parsedate_to_datetime(header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


async def _back_off(attempt: int) -> None:
    # The SDK's standard mode: an exponential, jittered wait.
    await asyncio.sleep(random.uniform(0, min(0.05 * 2**attempt, 1.0)))
