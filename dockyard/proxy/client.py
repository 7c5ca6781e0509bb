"""Talking to one upstream registry: authentication, rate limit, back-off.

``UpstreamClient`` asks the upstream for manifests, tags and blobs over an async
``httpx`` client. It answers the upstream's ``WWW-Authenticate`` challenge itself, with
the upstream's configured credentials only (a client's ``Authorization`` is never
forwarded): Basic, or the bearer token flow (a token from the challenge's realm for its
service and scope, kept until it expires). A 429 or an unreachable upstream raises
``UpstreamUnavailable`` and, for a 429, no request is sent until ``Retry-After`` passed,
so callers serve what they have cached.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpcore
import httpx

from dockyard.digest import Digest
from dockyard.errors import DockyardError
from dockyard.proxy.network import UpstreamTransport
from dockyard.proxy.settings import UpstreamConfig

logger = logging.getLogger("dockyard.proxy")
# httpx logs every request at INFO; the proxy logs what it fetched, tied to the request.
logging.getLogger("httpx").setLevel(logging.WARNING)
#: Bytes an HTTP/1.1 connection takes from its socket at a time. httpcore's 64 KiB cut
#: each 256 KiB the event loop receives into four, each parsed on its own: a cold pull
#: of a large layer spent a quarter more CPU on that (bench/proxy_figures.py).
UPSTREAM_READ_SIZE: Final = 1 << 20
if getattr(httpcore.AsyncHTTP11Connection, "READ_NUM_BYTES", 0) < UPSTREAM_READ_SIZE:
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = UPSTREAM_READ_SIZE


#: What dockyard accepts as a manifest, in the order a client would prefer.
MANIFEST_ACCEPT: Final = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.oci.artifact.manifest.v1+json",
    )
)
_CHALLENGE_PARAM: Final = re.compile(r'(\w+)="([^"]*)"')
#: Tokens are renewed this long before the upstream says they expire.
_TOKEN_MARGIN: Final = 10.0
_DEFAULT_RETRY_AFTER: Final = 30.0


class UpstreamUnavailable(DockyardError):
    """The upstream cannot answer now (unreachable, 5xx or 429): serve the cache."""

    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class UpstreamNotFound(DockyardError):
    """The upstream does not have what was asked for."""


class UpstreamDenied(DockyardError):
    """The upstream refused dockyard's credentials for what was asked for."""


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    """A manifest as the upstream sent it."""

    body: bytes
    media_type: str
    digest: Digest


@dataclass(frozen=True, slots=True)
class RemoteDescriptor:
    """What a HEAD tells about a manifest or blob upstream."""

    digest: Digest | None
    media_type: str
    size: int


class _TokenCache:
    """Bearer tokens by (realm, service, scope), until shortly before they expire.

    A scope names a repository, so pulls through many repositories would add a token
    each: the cache holds at most ``max_bytes`` (1 MiB; each token charged its key's
    and its own characters plus ``_TOKEN_ENTRY_BYTES``), dropping expired tokens first
    and everything when that is not enough.
    """

    def __init__(self, max_bytes: int = 1 << 20) -> None:
        self.max_bytes = max_bytes
        self._tokens: dict[tuple[str, str, str], tuple[str, float, int]] = {}
        self._bytes = 0

    @property
    def charged_bytes(self) -> int:
        """The memory the tokens hold, as charged against ``max_bytes``."""
        return self._bytes

    def get(self, key: tuple[str, str, str]) -> str | None:
        found = self._tokens.get(key)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        charge = _TOKEN_ENTRY_BYTES + sum(map(len, key)) + len(token)
        if charge > self.max_bytes:
            return
        self._drop(key)
        if self._bytes + charge > self.max_bytes:
            now = time.monotonic()
            for stale in [k for k, (_, until, _) in self._tokens.items() if until <= now]:
                self._drop(stale)
        if self._bytes + charge > self.max_bytes:
            self._tokens.clear()
            self._bytes = 0
        until = time.monotonic() + max(expires_in - _TOKEN_MARGIN, 1.0)
        self._tokens[key] = (token, until, charge)
        self._bytes += charge

    def _drop(self, key: tuple[str, str, str]) -> None:
        found = self._tokens.pop(key, None)
        if found is not None:
            self._bytes -= found[2]


#: What a cached upstream token holds beyond its characters (strings, tuples, dict entry).
_TOKEN_ENTRY_BYTES: Final = 400


class RegistryAuth(httpx.Auth):
    """Answers an upstream's challenge with the configured credentials (never a client's).

    Only the token service's answers are read here: every other response (a blob's
    above all) reaches the caller unread, to be streamed.
    """

    def __init__(self, username: str | None, password: str | None) -> None:
        self._basic: str | None = None
        if username is not None or password is not None:
            pair = f"{username or ''}:{password or ''}".encode()
            self._basic = "Basic " + base64.b64encode(pair).decode()
        self._tokens = _TokenCache()
        #: The last challenge per host, so that later requests send a token up front.
        self._challenges: dict[str, dict[str, str]] = {}

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("the upstream client is asynchronous")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers.pop("Authorization", None)
        host = request.url.host
        challenge = self._challenges.get(host)
        if challenge is not None:
            self._authorize(request, challenge, None)
        response = yield request
        if response.status_code != 401:
            return
        header = response.headers.get("www-authenticate", "")
        scheme, _, rest = header.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(rest))
        params["scheme"] = scheme.lower()
        token: str | None = None
        if params["scheme"] == "bearer":
            key = _token_key(params, request)
            token = self._tokens.get(key)
            if token is None:
                token_response = yield self._token_request(key)
                await token_response.aread()
                token, expires_in = _parse_token(token_response)
                if token is None:
                    return
                self._tokens.put(key, token, expires_in)
        elif params["scheme"] != "basic" or self._basic is None:
            return
        self._challenges[host] = params
        self._authorize(request, params, token)
        yield request

    def _authorize(
        self, request: httpx.Request, challenge: dict[str, str], token: str | None
    ) -> None:
        if challenge["scheme"] == "basic":
            if self._basic is not None:
                request.headers["Authorization"] = self._basic
            return
        if token is None:
            token = self._tokens.get(_token_key(challenge, request))
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"

    def _token_request(self, key: tuple[str, str, str]) -> httpx.Request:
        realm, service, scope = key
        params = {"service": service} if service else {}
        if scope:
            params["scope"] = scope
        headers = {"User-Agent": "dockyard-proxy"}
        if self._basic is not None:
            headers["Authorization"] = self._basic
        return httpx.Request("GET", realm, params=params, headers=headers)


def _token_key(challenge: dict[str, str], request: httpx.Request) -> tuple[str, str, str]:
    """The token a request needs: its realm, service, and the scope of its repository.

    The challenge's own scope is used when the upstream names one; a challenge kept from
    an earlier request names another repository, so the scope is rebuilt from the path.
    """
    scope = challenge.get("scope", "")
    match = re.fullmatch(r"/v2/(.+)/(?:manifests|blobs|tags)/.*", request.url.path)
    if match is not None:
        scope = f"repository:{match.group(1)}:pull"
    return challenge.get("realm", ""), challenge.get("service", ""), scope


def _parse_token(response: httpx.Response) -> tuple[str | None, float]:
    if response.status_code != 200:
        return None, 0.0
    try:
        document = response.json()
    except ValueError:
        return None, 0.0
    token = document.get("token") or document.get("access_token")
    expires_in = document.get("expires_in") or 60
    if not isinstance(token, str) or not isinstance(expires_in, int | float):
        return None, 0.0
    return token, float(expires_in)


class RateLimiter:
    """At most ``rate`` requests per second, spaced evenly (0: no limit)."""

    def __init__(self, rate: int) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
        if delay > 0:
            await asyncio.sleep(delay)


class UpstreamClient:
    """One upstream registry, as dockyard's proxy asks it for content."""

    def __init__(
        self, config: UpstreamConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ):
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.url,
            auth=RegistryAuth(config.username, config.password),
            timeout=httpx.Timeout(30.0, connect=5.0),
            follow_redirects=True,
            transport=transport or UpstreamTransport(),
            headers={"User-Agent": "dockyard-proxy"},
        )
        self._limiter = RateLimiter(config.ratelimit)
        self._blocked_until = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def blocked_for(self) -> float:
        """Seconds left of the upstream's last ``Retry-After`` (0 when not blocked)."""
        return max(self._blocked_until - time.monotonic(), 0.0)

    async def close(self) -> None:
        await self._http.aclose()

    # --- requests -------------------------------------------------------------------------

    async def manifest(self, repository: str, reference: str) -> RemoteManifest:
        """The manifest a tag or digest names upstream, verified against its digest."""
        response = await self._request("GET", f"/v2/{repository}/manifests/{reference}")
        body = response.content
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if ":" in reference:
            expected = Digest.parse(reference)
            digest = Digest.of(body, expected.algorithm)
        else:
            header = response.headers.get("docker-content-digest")
            expected = Digest.parse(header) if header else Digest.of(body)
            digest = Digest.of(body, expected.algorithm)
        if digest != expected:
            raise UpstreamUnavailable(
                f"upstream {self.name} sent a manifest whose digest does not match {expected}"
            )
        return RemoteManifest(body, media_type, digest)

    async def head_manifest(self, repository: str, reference: str) -> RemoteDescriptor:
        """The digest, type and size of what a tag names upstream, without the body."""
        response = await self._request("HEAD", f"/v2/{repository}/manifests/{reference}")
        return _descriptor(response)

    async def head_blob(self, repository: str, digest: Digest) -> RemoteDescriptor:
        response = await self._request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return _descriptor(response)

    async def tags(self, repository: str) -> list[str]:
        """Every tag of the repository upstream, following ``Link`` pages."""
        return await self._names(f"/v2/{repository}/tags/list", "tags")

    async def catalog(self) -> list[str]:
        """Every repository the upstream's catalog lists, following ``Link`` pages."""
        return await self._names("/v2/_catalog", "repositories")

    async def _names(self, url: str, key: str) -> list[str]:
        return [name async for name in self._listed(url, key) if isinstance(name, str)]

    async def referrers(self, repository: str, subject: Digest) -> list[dict[str, Any]] | None:
        """The descriptors of the upstream's referrers index for ``subject``, every page;
        None when the upstream has no referrers API (404)."""
        url = f"/v2/{repository}/referrers/{subject}"
        try:
            return [m async for m in self._listed(url, "manifests") if isinstance(m, dict)]
        except UpstreamNotFound:
            return None

    async def _listed(self, url: str, key: str) -> AsyncIterator[Any]:
        """The entries of the list ``key`` in a JSON answer, across its ``Link`` pages."""
        page: str | None = url
        while page is not None:
            response = await self._request("GET", page)
            try:
                listed = response.json().get(key) or []
            except (ValueError, AttributeError):
                raise UpstreamUnavailable(
                    f"upstream {self.name} sent a {key} list that is not JSON"
                ) from None
            for entry in listed:
                yield entry
            page = _next_page(response)

    @asynccontextmanager
    async def blob(self, repository: str, digest: Digest) -> AsyncIterator[httpx.Response]:
        """The upstream's response for the blob, its body not yet read.

        The body is asked for as it is stored (``identity``): its bytes are the blob's,
        whatever a CDN on the way could compress, so it can be read raw. A connection that
        breaks while the body is read raises ``UpstreamUnavailable`` here too.
        """
        await self._before()
        request = self._http.build_request(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            headers={"Accept": "*/*", "Accept-Encoding": "identity"},
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        try:
            self._check(response)
            yield response
        except httpx.TransportError as error:
            # The connection broke while the caller read the body.
            raise self._unreachable(error) from None
        finally:
            await response.aclose()

    async def _request(self, method: str, url: str) -> httpx.Response:
        await self._before()
        headers = {"Accept": MANIFEST_ACCEPT} if "/manifests/" in url else {}
        try:
            response = await self._http.request(method, url, headers=headers)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        self._check(response)
        return response

    async def _before(self) -> None:
        wait = self._blocked_until - time.monotonic()
        if wait > 0:
            raise UpstreamUnavailable(
                f"upstream {self.name} asked to wait {wait:.0f}s more (429)", rate_limited=True
            )
        await self._limiter.wait()

    def _unreachable(self, error: httpx.TransportError) -> UpstreamUnavailable:
        logger.warning("upstream %s unreachable: %s", self.name, type(error).__name__)
        return UpstreamUnavailable(f"upstream {self.name} is unreachable")

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        if status == 429:
            delay = retry_after_seconds(response.headers.get("retry-after"))
            self._blocked_until = time.monotonic() + delay
            logger.warning("upstream %s: 429, backing off %.0fs", self.name, delay)
            raise UpstreamUnavailable(
                f"upstream {self.name} is rate limiting (retry after {delay:.0f}s)",
                rate_limited=True,
            )
        if status == 404:
            raise UpstreamNotFound(f"not found on upstream {self.name}")
        if status in (401, 403):
            raise UpstreamDenied(f"upstream {self.name} refused access ({status})")
        raise UpstreamUnavailable(f"upstream {self.name} answered {status}")


def _descriptor(response: httpx.Response) -> RemoteDescriptor:
    header = response.headers.get("docker-content-digest")
    digest = Digest.parse(header) if header else None
    size = int(response.headers.get("content-length") or 0)
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    return RemoteDescriptor(digest, media_type, size)


def retry_after_seconds(value: str | None) -> float:
    """Seconds a ``Retry-After`` (seconds or an HTTP date) asks to wait."""
    if not value:
        return _DEFAULT_RETRY_AFTER
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return _DEFAULT_RETRY_AFTER
    return max(when.timestamp() - time.time(), 0.0)


def _next_page(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if not link:
        return None
    match = re.match(r"\s*<([^>]+)>", link)
    if match is None:
        return None
    return str(response.url.join(match.group(1)))
