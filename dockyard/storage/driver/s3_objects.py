"""Requests on one small S3 object (GET, HEAD, PUT, DELETE), pages of a listing
(ListObjectsV2) and batched deletes (DeleteObjects), signed here rather than by the SDK.

The S3 driver reads link files, manifests and descriptors on every request it serves,
writes and deletes link files and upload records on every push, one object each, and lists
an upload's hash states twice per chunk and deletes a finished one's files in a batch;
through the SDK each of these runs botocore's
whole per-request pipeline (event hooks, endpoint rules, user-agent building, response
parsing): several times the CPU of the request itself.
These requests are plain enough to make directly: the driver's aiohttp session, a
Signature Version 4 signature (its signing key derived once per day), and the endpoint,
bucket addressing and credentials the SDK client resolved, so both reach the same object
the same way.

Everything else the driver does (multipart uploads, copies, streamed reads, presigned
URLs) goes through the SDK.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import random
import re
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, unquote_plus, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import aiohttp
from yarl import URL

#: Attempts per read, as the SDK's standard retry mode makes.
ATTEMPTS: Final = 3
#: Statuses worth another attempt: throttling and the server's transient failures.
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: What a request without a body signs as its payload: the hash of the empty body.
_EMPTY_PAYLOAD: Final = hashlib.sha256(b"").hexdigest()
#: What a PUT over HTTPS signs as its payload, as the SDK does.
_UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
#: Bodies from this size on are hashed in a worker thread, off the event loop.
_HASH_ON_LOOP_BYTES: Final = 256 * 1024
_S3_XMLNS: Final = "http://s3.amazonaws.com/doc/2006-03-01/"
_ERROR_CODE: Final = re.compile(rb"<Code>([A-Za-z0-9.]{1,64})</Code>")
_META_PREFIX: Final = "x-amz-meta-"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request is signed with; ``token`` for temporary credentials."""

    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectResponse:
    """A successful request: the object's size, last modification, (for GET) body and,
    when asked for, its user metadata (``x-amz-meta-<name>``, by lowercase name)."""

    size: int
    modified: datetime
    body: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object of a listing page."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a listing: the objects, the common prefixes (with ``delimiter``), and
    the token that asks for the next page (None on the last)."""

    objects: list[ListedObject]
    prefixes: list[str]
    next_token: str | None


class ObjectRequestError(Exception):
    """A request failed: ``code`` is S3's error code (``NoSuchKey`` for a 404 without one,
    else the status)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Signer:
    """Signature Version 4 for S3 requests, in one region."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}

    def headers(
        self,
        method: str,
        host: str,
        path: str,
        credentials: Credentials,
        now: datetime,
        payload_hash: str = _EMPTY_PAYLOAD,
        extra: Mapping[str, str] | None = None,
        query: str = "",
    ) -> dict[str, str]:
        """The headers that authenticate ``method path?query`` on ``host`` at ``now``, with
        the ``extra`` headers it sends (signed too) and its body's ``payload_hash``;
        ``query`` is canonical (``canonical_query``)."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        headers = {name.lower(): " ".join(value.split()) for name, value in (extra or {}).items()}
        headers.update({"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": stamp})
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        ordered = sorted(headers)
        names = ";".join(ordered)
        canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in ordered)
        canonical = f"{method}\n{path}\n{query}\n{canonical_headers}\n{names}\n{payload_hash}"
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


class ObjectRequests:
    """GET, HEAD and PUT of single objects in one bucket.

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

    async def get(self, key: str, *, metadata: bool = False) -> ObjectResponse:
        """The object's content (and with ``metadata`` its user metadata);
        ``ObjectRequestError`` when it cannot be read."""
        return await self._send("GET", self._path(key), metadata=metadata)

    async def head(self, key: str) -> ObjectResponse:
        """The object's size and modification time (an empty ``body``)."""
        return await self._send("HEAD", self._path(key))

    async def put(self, key: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Store ``body`` as the object, with ``headers`` (content type, ``x-amz-*``)."""
        await self._send("PUT", self._path(key), "", body, await self._payload_hash(body), headers)

    async def _payload_hash(self, body: bytes) -> str:
        if self._origin.startswith("https:"):
            return _UNSIGNED_PAYLOAD  # as the SDK: TLS already protects the body
        if len(body) > _HASH_ON_LOOP_BYTES:
            return (await asyncio.to_thread(hashlib.sha256, body)).hexdigest()
        return hashlib.sha256(body).hexdigest()

    async def delete_objects(self, keys: Sequence[str]) -> list[str]:
        """Delete up to a thousand objects with one DeleteObjects in quiet mode; the S3
        error codes of the keys it could not delete."""
        body = "".join(
            [
                '<?xml version="1.0" encoding="UTF-8"?>',
                f'<Delete xmlns="{_S3_XMLNS}"><Quiet>true</Quiet>',
                *(f"<Object><Key>{escape(key)}</Key></Object>" for key in keys),
                "</Delete>",
            ]
        ).encode()
        # DeleteObjects requires a checksum of its body.
        md5 = hashlib.md5(body, usedforsecurity=False).digest()
        headers = {"Content-Type": "application/xml", "Content-MD5": base64.b64encode(md5).decode()}
        bucket = self._prefix.rstrip("/") or "/"
        answer = await self._send(
            "POST", bucket, "delete=", body, await self._payload_hash(body), headers
        )
        return _delete_errors(answer.body)

    async def delete(self, key: str) -> None:
        """Delete the object (an absent one is no error to S3)."""
        await self._send("DELETE", self._path(key))

    async def list_page(
        self,
        prefix: str,
        *,
        delimiter: str | None = None,
        max_keys: int | None = None,
        token: str | None = None,
    ) -> ListPage:
        """One page of ListObjectsV2 below ``prefix``, from ``token`` on (keys URL-encoded
        on the wire and decoded here, as the SDK asks for them)."""
        params = {"list-type": "2", "prefix": prefix, "encoding-type": "url"}
        if delimiter is not None:
            params["delimiter"] = delimiter
        if max_keys is not None:
            params["max-keys"] = str(max_keys)
        if token is not None:
            params["continuation-token"] = token
        bucket = self._prefix.rstrip("/") or "/"
        answer = await self._send("GET", bucket, canonical_query(params))
        return _list_page(answer.body)

    def _path(self, key: str) -> str:
        return self._prefix + quote(key, safe="/~")

    async def _send(
        self,
        method: str,
        path: str,
        query: str = "",
        body: bytes = b"",
        payload_hash: str = _EMPTY_PAYLOAD,
        extra: Mapping[str, str] | None = None,
        *,
        metadata: bool = False,
    ) -> ObjectResponse:
        url: str | URL = self._origin + path
        if query:
            url = URL(f"{url}?{query}", encoded=True)  # signed as it is sent
        for attempt in range(ATTEMPTS):
            credentials = await self._credentials()
            headers = (
                dict(extra or {})
                if credentials is None
                else self._signer.headers(
                    method,
                    self._host,
                    path,
                    credentials,
                    datetime.now(UTC),
                    payload_hash,
                    extra,
                    query,
                )
            )
            last = attempt == ATTEMPTS - 1
            try:
                async with self._session.request(
                    method,
                    url,
                    data=body if method in ("PUT", "POST") else None,
                    headers=headers,
                    allow_redirects=False,
                    proxy=self._proxy,
                ) as response:
                    answer = await response.read()
                    status = response.status
                    if status == 200 or (status == 204 and method == "DELETE"):
                        return ObjectResponse(
                            int(response.headers.get("Content-Length", len(answer))),
                            _modified(response.headers.get("Last-Modified")),
                            answer if method in ("GET", "POST") else b"",
                            _metadata(response.headers) if metadata else {},
                        )
            except (TimeoutError, aiohttp.ClientError):
                if last:
                    raise
                await _back_off(attempt)
                continue
            if status not in _RETRY_STATUSES or last:
                found = _ERROR_CODE.search(answer)
                if found:
                    raise ObjectRequestError(found.group(1).decode())
                # A HEAD's answer has no body to name its error.
                raise ObjectRequestError("NoSuchKey" if status == 404 else str(status))
            await _back_off(attempt)
        raise AssertionError("unreachable")  # every attempt returns, raises or continues


def canonical_query(params: Mapping[str, str]) -> str:
    """``params`` as Signature Version 4's canonical query string, which is also sent."""
    return "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in sorted(params.items())
    )


def _list_page(body: bytes) -> ListPage:
    """A ListObjectsV2 answer (``ListBucketResult``), namespaced or not."""
    objects: list[ListedObject] = []
    prefixes: list[str] = []
    truncated, token = False, None
    try:
        # The configured store's answer, parsed with expat as the SDK parses it.
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        raise ObjectRequestError("MalformedListing") from None
    for element in root:
        tag = element.tag.rpartition("}")[2]
        if tag == "Contents":
            fields = {child.tag.rpartition("}")[2]: child.text or "" for child in element}
            objects.append(
                ListedObject(
                    unquote_plus(fields.get("Key", "")),
                    int(fields.get("Size") or 0),
                    _listed_time(fields.get("LastModified", "")),
                )
            )
        elif tag == "CommonPrefixes":
            for child in element:
                if child.tag.rpartition("}")[2] == "Prefix":
                    prefixes.append(unquote_plus(child.text or ""))
        elif tag == "IsTruncated":
            truncated = (element.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken":
            token = element.text or None
    return ListPage(objects, prefixes, token if truncated else None)


def _delete_errors(body: bytes) -> list[str]:
    """The error codes in a DeleteObjects answer (``DeleteResult``)."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - as in _list_page
    except ElementTree.ParseError:
        raise ObjectRequestError("MalformedDeleteResult") from None
    codes: list[str] = []
    for element in root:
        if element.tag.rpartition("}")[2] == "Error":
            fields = {child.tag.rpartition("}")[2]: child.text or "" for child in element}
            codes.append(fields.get("Code") or "error")
    return codes


def _listed_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return datetime.now(UTC)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _environment_proxy(scheme: str, host: str) -> str | None:
    """The proxy the environment names for ``scheme`` (``HTTPS_PROXY``…), unless ``NO_PROXY``
    exempts ``host``: looked up once, where the session would look it up per request."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(host):
        return None
    return proxies.get(scheme)


def _metadata(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name.lower()[len(_META_PREFIX) :]: value
        for name, value in headers.items()
        if name.lower().startswith(_META_PREFIX)
    }


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
