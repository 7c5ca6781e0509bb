"""A storage driver on an S3-compatible object store (AWS S3, Ceph RGW, MinIO, SeaweedFS).

Storage path ``/a/b`` is the object ``<rootdirectory>/a/b`` in the bucket, the same key the
reference registry's S3 driver uses, so either registry can serve what the other wrote.
Directories are implicit: a directory exists while some object's key lies below it.

Writers and resuming
--------------------
A writer is an S3 multipart upload that any instance sharing the bucket can resume:

- Bytes are buffered in memory and uploaded as parts of ``chunksize`` (at least 5 MiB,
  the S3 minimum for every part but the last).
- ``close()`` makes the rest durable. A remainder of 5 MiB or more becomes a part; a
  smaller one cannot, so it is stored in a small *pending record*: the object
  ``<rootdirectory>/~pending/<path>`` whose body is the remainder and whose metadata names
  the upload id and the part numbers that hold the content before it (``1-4,7``).
  ``~`` never occurs in a storage path, so no path maps onto a record and ``list``,
  ``stat`` and ``walk`` skip it as they skip every key that is not a valid path.
- Every upload is named in the record before its first part: a fresh writer records its
  new upload as *unclosed* (no remainder yet); a resumed writer that had no upload
  records the new one beside the remainder it resumed with. So the record is where
  writers find uploads, and nothing on a writer's path lists them: ``writer(path)``
  aborts the upload the record names and deletes the record.
- ``writer(path, append=True)`` reads the record, then the upload's parts (ListParts,
  paginated), and continues with the record's remainder in its buffer; an unclosed
  record's writer keeps every listed part. No record: ``PathNotFound``.
- Part numbers are never reused. Parts that a writer uploaded after the last ``close``
  and then lost (a crash, or ``truncate``) are left out of the record: *stray* parts.
  (Some servers, SeaweedFS among them, list a re-uploaded part number twice, so reusing
  numbers would be ambiguous.)
- ``commit()`` uploads the buffer as the last part and completes the upload, or, when
  no part was uploaded, stores the buffer with one PutObject (so an empty file is an
  empty object), straight at a plan's ``Commit`` destination. The record is deleted
  after the content is published.
- A completion always names every part the upload holds: Ceph RGW refuses one that
  leaves a part out. An upload holding stray parts is first completed whole, and its
  kept parts copied (UploadPartCopy) into a fresh upload, which is then completed. The
  record names the kept parts' ranges (``dockyard-shed``) before that, so a writer
  resumed after a crash in between copies them from the completed object.
- ``cancel()`` aborts the upload and deletes the record.
- ``delete`` of a folder still lists the uploads below it, for those no record names: one
  a crash left between its creation and its record (it holds no part), the copy a
  commit that shed stray parts began when a crash cut it, or one an earlier build left.
- ``truncate(size)`` cuts the buffer, or drops whole trailing parts; a cut inside a
  stored part raises ``Unsupported`` (S3 cannot read back or shorten a part).

``get_content``, ``stat``, small whole-object writes (``put_content``, pending records,
commits without parts), single deletes and listing pages are GET, HEAD, PUT and DELETE
requests the driver signs itself (``s3_objects``: a fraction of the SDK's CPU per
request), addressed, signed and authorised as the SDK's client would.

Everything else maps onto one or a few requests: ranged GETs for ``reader`` (which
reconnects where a dropped connection stopped, conditional on the ETag), HeadObject (then
a one-key listing for directories) for ``stat``, paginated ListObjectsV2 for ``list`` and
``walk``, CopyObject or a multipart UploadPartCopy for ``move``, batched DeleteObjects for
``delete`` (which also aborts uploads and drops pending records below the path), and
presigned URLs for ``redirect_url``. ``list`` confirms every directory that a delimited
listing reports with a one-key listing of its own, because servers that keep real
directories (SeaweedFS) go on reporting an emptied one until a delayed cleanup.

Over plain ``http`` the SDK signs each request's payload (SHA-256 of a part on the event
loop, a few milliseconds per 10 MiB); over ``https`` payloads go unsigned.

Errors from the object store become ``StorageDriverError`` subclasses whose messages name
only the operation and the S3 error code: never a key, an endpoint or a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import os
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NoReturn, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.config.model import S3_MIN_PART_SIZE, MiB, S3Params
from dockyard.storage.driver.base import (
    FileInfo,
    FileWriter,
    InvalidOffset,
    PathNotFound,
    StorageDriver,
    StorageDriverError,
    Unsupported,
    validate_path,
)
from dockyard.storage.driver.plan import Commit, Step
from dockyard.storage.driver.s3_objects import (
    Credentials,
    ListPage,
    ObjectRequestError,
    ObjectRequests,
)

MAX_PARTS: Final = 10_000
#: DeleteObjects takes at most this many keys per request.
DELETE_BATCH: Final = 1000
#: How long a presigned redirect URL stays valid.
REDIRECT_EXPIRY_SECONDS: Final = 20 * 60
#: Bytes per chunk that ``reader`` asks the response stream for.
READ_CHUNK: Final = 1 * MiB

#: Reconnects in a row that ``reader`` tries after its connection drops mid-stream.
_READ_RETRIES: Final = 3
#: Directory listings checked at once when ``list`` confirms reported directories.
_CHECK_CONCURRENCY: Final = 16
_VISIBLE: Final = re.compile(r"[A-Za-z0-9._-]+")
_PENDING_DIR: Final = "~pending"
_META_UPLOAD: Final = "dockyard-upload"
_META_PARTS: Final = "dockyard-parts"
_META_SHED: Final = "dockyard-shed"
_META_UNCLOSED: Final = "dockyard-unclosed"
_NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchUpload"})


class S3Error(StorageDriverError):
    """A request to the object store failed."""


# --- errors -------------------------------------------------------------------------------


def _error_code(error: ClientError) -> str:
    code = error.response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status or "unknown")


def _is_not_found(error: BaseException) -> bool:
    return isinstance(error, ClientError) and _error_code(error) in _NOT_FOUND_CODES


_T = TypeVar("_T")

_TRANSPORT_ERRORS: Final = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError)


def _fail(operation: str, path: str, error: BaseException) -> NoReturn:
    """Raise the typed driver error for a failed request, with a message safe to show."""
    if _is_not_found(error):
        raise PathNotFound(path) from None
    if isinstance(error, ClientError):
        code = _error_code(error)
        if not re.fullmatch(r"[A-Za-z0-9.]{1,64}", code):
            code = "error"
        raise S3Error(f"object store {operation} failed: {code}") from None
    # Transport errors carry the endpoint URL in their text; say only what kind they are.
    raise S3Error(f"object store {operation} failed: {type(error).__name__}") from None


# --- pending records: part number ranges --------------------------------------------------


def _format_ranges(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3,7"``."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _parse_ranges(text: str) -> list[int]:
    numbers: list[int] = []
    for span in filter(None, text.split(",")):
        first, _, last = span.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def _format_spans(spans: Iterable[tuple[int, int]]) -> str:
    """``[(0, 5), (9, 5)]`` (offset, size) as ``"0:5,9:5"``."""
    return ",".join(f"{offset}:{size}" for offset, size in spans)


def _parse_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for span in filter(None, text.split(",")):
        offset, _, size = span.partition(":")
        spans.append((int(offset), int(size)))
    return spans


@dataclass(frozen=True, slots=True)
class _Part:
    number: int
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class _Record:
    """A pending record: the upload, the numbers of the parts that hold the content before
    ``tail``, the kept ranges of a completion that shed stray parts (else None), and
    whether it was written by a fresh writer as it created its upload (``unclosed``: the
    writer never closed, every part of the upload is its content)."""

    upload_id: str | None
    parts: list[int]
    tail: bytes
    shed: list[tuple[int, int]] | None
    unclosed: bool = False


# --- the driver ---------------------------------------------------------------------------


class S3Driver(StorageDriver):
    """Content as objects in one bucket, below ``rootdirectory``."""

    name = "s3"

    def __init__(self, params: S3Params) -> None:
        self._params = params
        self._root = params.rootdirectory + "/" if params.rootdirectory else ""
        self._client: Any = None
        self._objects: ObjectRequests | None = None
        self._stack: AsyncExitStack | None = None
        self._client_lock = asyncio.Lock()

    @property
    def params(self) -> S3Params:
        """The driver's configuration."""
        return self._params

    # -- client ----------------------------------------------------------------------------

    async def _s3(self) -> Any:
        """The driver's one client, created on first use."""
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                _quiet_sdk_debug_logs()
                p = self._params
                config = AioConfig(
                    signature_version="s3v4",
                    s3={
                        "addressing_style": "path" if p.forcepathstyle else "auto",
                        "payload_signing_enabled": False,
                        "use_dualstack_endpoint": p.usedualstack,
                        "use_accelerate_endpoint": p.accelerate,
                    },
                    user_agent_extra=p.useragent,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    max_pool_connections=p.maxconnections,
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=10,
                    read_timeout=120,
                )
                stack = AsyncExitStack()
                session = get_session()
                try:
                    client = await stack.enter_async_context(
                        session.create_client(
                            "s3",
                            region_name=p.region,
                            endpoint_url=p.endpoint_url(),
                            use_ssl=p.secure,
                            verify=not p.skipverify,
                            aws_access_key_id=p.accesskey,
                            aws_secret_access_key=p.secretkey,
                            aws_session_token=p.sessiontoken,
                            config=config,
                        )
                    )
                    self._objects = await self._object_requests(client, session, stack)
                except (BotoCoreError, ValueError) as error:
                    await stack.aclose()
                    # Their messages quote the endpoint or region as configured.
                    raise S3Error(
                        f"object store client could not be created: {type(error).__name__}"
                    ) from None
                self._client, self._stack = client, stack
        return self._client

    async def _object_requests(
        self, client: Any, session: Any, stack: AsyncExitStack
    ) -> ObjectRequests:
        """Requests on single objects addressed, signed and pooled as ``client`` would."""
        p = self._params
        probe = f"{self._root}{_PENDING_DIR}/probe"
        url = await client.generate_presigned_url(
            "get_object", Params={"Bucket": p.bucket, "Key": probe}, ExpiresIn=60
        )
        tls: ssl.SSLContext | bool = (
            False if p.skipverify else ssl.create_default_context(cafile=_ca_bundle())
        )
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=p.maxconnections, ssl=tls),
                timeout=aiohttp.ClientTimeout(sock_connect=10, sock_read=120),
                headers={"User-Agent": f"dockyard {p.useragent or ''}".strip()},
            )
        )
        if p.accesskey and p.secretkey:
            static = Credentials(p.accesskey, p.secretkey, p.sessiontoken or None)

            async def credentials() -> Credentials | None:
                return static

        else:
            resolved = await session.get_credentials()

            async def credentials() -> Credentials | None:
                if resolved is None:
                    return None
                frozen = await resolved.get_frozen_credentials()
                return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

        return ObjectRequests(
            http, url.split("?", 1)[0], probe, client.meta.region_name, credentials
        )

    async def _object_request(
        self, operation: str, path: str, send: Callable[[ObjectRequests], Awaitable[_T]]
    ) -> _T:
        """One request on a single object (``s3_objects``), its errors translated as
        ``_call`` translates the SDK's."""
        await self._s3()
        assert self._objects is not None
        try:
            return await send(self._objects)
        except ObjectRequestError as error:
            if error.code in _NOT_FOUND_CODES:
                raise PathNotFound(path) from None
            raise S3Error(f"object store {operation} failed: {error.code}") from None
        except _TRANSPORT_ERRORS as error:
            _fail(operation, path, error)

    async def close(self) -> None:
        """Close the client and its connection pool."""
        stack, self._stack, self._client, self._objects = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    async def check(self, *, writable: bool = True) -> None:
        """The bucket exists and, if ``writable``, an object can be written and deleted
        below the root (a probe under ``~pending``, which no storage path maps onto)."""
        key = "storage.s3.bucket"
        try:
            await self._call("head_bucket", "/")
        except PathNotFound:
            raise S3Error(f"{key}: the bucket does not exist") from None
        except StorageDriverError as error:
            raise S3Error(f"{key}: the bucket cannot be reached ({error.message})") from None
        if not writable:
            return
        probe = f"{self._root}{_PENDING_DIR}/check-{uuid.uuid4().hex}"
        try:
            await self._put("/", probe, b"")
            await self._call("delete_object", "/", Key=probe)
        except StorageDriverError as error:
            raise S3Error(f"{key}: the bucket does not take writes ({error.message})") from None

    async def _call(self, operation: str, path: str, **kwargs: Any) -> Any:
        """One S3 request on the driver's bucket, its errors translated."""
        client = await self._s3()
        try:
            return await getattr(client, operation)(Bucket=self._params.bucket, **kwargs)
        except (ClientError, *_TRANSPORT_ERRORS) as error:
            _fail(operation, path, error)

    async def _pages(
        self, operation: str, path: str, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a paginated S3 listing, its errors translated."""
        client = await self._s3()
        paginator = client.get_paginator(operation)
        pages = paginator.paginate(Bucket=self._params.bucket, **kwargs)
        try:
            async for page in pages:
                yield page
        except (ClientError, *_TRANSPORT_ERRORS) as error:
            _fail(operation, path, error)

    async def _listing(
        self,
        path: str,
        prefix: str,
        *,
        delimiter: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[ListPage]:
        """Every page of ListObjectsV2 below ``prefix`` (signed by the driver), its errors
        translated."""
        token: str | None = None
        while True:
            page = await self._object_request(
                "list_objects_v2",
                path,
                functools.partial(
                    ObjectRequests.list_page,
                    prefix=prefix,
                    delimiter=delimiter,
                    max_keys=page_size,
                    token=token,
                ),
            )
            yield page
            token = page.next_token
            if token is None:
                return

    async def _holds_objects(self, path: str, prefix: str) -> bool:
        """Whether some object's key begins with ``prefix`` (a one-key listing)."""
        async for page in self._listing(path, prefix, page_size=1):
            return bool(page.objects)
        return False

    # -- keys ------------------------------------------------------------------------------

    def _key(self, path: str) -> str:
        return self._root + path[1:]

    def _dir_prefix(self, path: str) -> str:
        """The key prefix of everything below directory ``path``."""
        return self._root if path == "/" else self._key(path) + "/"

    def _record_key(self, path: str) -> str:
        return f"{self._root}{_PENDING_DIR}{path}"

    @functools.cached_property
    def _object_headers(self) -> dict[str, str]:
        """``_object_args`` as the headers of a PutObject request."""
        names = {
            "StorageClass": "x-amz-storage-class",
            "ServerSideEncryption": "x-amz-server-side-encryption",
            "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
            "ACL": "x-amz-acl",
        }
        return {names[arg]: str(value) for arg, value in self._object_args().items()}

    def _object_args(self) -> dict[str, Any]:
        """What every request creating an object sends: storage class, encryption, ACL."""
        p = self._params
        args: dict[str, Any] = {}
        if p.storageclass is not None:
            args["StorageClass"] = p.storageclass
        if p.encrypt:
            args["ServerSideEncryption"] = "aws:kms" if p.keyid else "AES256"
            if p.keyid:
                args["SSEKMSKeyId"] = p.keyid
        if p.objectacl is not None:
            args["ACL"] = p.objectacl
        return args

    # -- plans -----------------------------------------------------------------------------

    async def _step(self, step: Step) -> Any:
        if isinstance(step, Commit) and isinstance(step.writer, _S3Writer):
            # Straight to the destination: a copy and a delete fewer for small content.
            await step.writer.commit(step.destination)
            return None
        return await super()._step(step)

    # -- small content ---------------------------------------------------------------------

    async def get_content(self, path: str) -> bytes:
        validate_path(path)
        key = self._key(path)
        return (await self._object_request("get_object", path, lambda o: o.get(key))).body

    async def put_content(self, path: str, content: bytes) -> None:
        validate_path(path)
        await self._put(path, self._key(path), bytes(content))

    async def _put(
        self, path: str, key: str, content: bytes, metadata: dict[str, str] | None = None
    ) -> None:
        headers = {"Content-Type": "application/octet-stream", **self._object_headers}
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name}"] = value
        await self._object_request("put_object", path, lambda o: o.put(key, content, headers))

    # -- reader ----------------------------------------------------------------------------

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        validate_path(path)
        if offset < 0:
            raise InvalidOffset(path, offset)
        key = self._key(path)
        if length is not None and length <= 0:
            size = (await self.stat(path)).size
            if offset > size:
                raise InvalidOffset(path, offset)
            return _nothing()
        last = "" if length is None else str(offset + length - 1)
        try:
            response = await self._call("get_object", path, Key=key, Range=f"bytes={offset}-{last}")
        except S3Error:
            # An offset at or past the end is "not satisfiable"; only past the end is wrong.
            size = (await self._head(path)).size
            if offset > size:
                raise InvalidOffset(path, offset) from None
            if offset == size:
                return _nothing()
            raise
        end = None if length is None else offset + length
        return self._stream(path, response, offset, end)

    async def _stream(
        self, path: str, response: dict[str, Any], position: int, end: int | None
    ) -> AsyncIterator[bytes]:
        """The chunks of a GET response body, reconnecting where a dropped one stopped.

        A reconnect asks for the rest with a ranged GET conditional on the first
        response's ETag, so a replaced object fails the read instead of mixing contents.
        The connection is released however the iteration ends.
        """
        etag = response.get("ETag")
        body = response["Body"]
        failures = 0
        try:
            while True:
                try:
                    chunk: bytes = await body.read(READ_CHUNK)
                except (ClientError, *_TRANSPORT_ERRORS) as error:
                    body.close()
                    failures += 1
                    if failures > _READ_RETRIES:
                        _fail("get_object", path, error)
                    last = "" if end is None else str(end - 1)
                    response = await self._call(
                        "get_object",
                        path,
                        Key=self._key(path),
                        Range=f"bytes={position}-{last}",
                        **({"IfMatch": etag} if etag else {}),
                    )
                    body = response["Body"]
                    continue
                if not chunk:
                    return
                position += len(chunk)
                failures = 0
                yield chunk
        finally:
            body.close()

    async def _head(self, path: str) -> FileInfo:
        key = self._key(path)
        response = await self._object_request("head_object", path, lambda o: o.head(key))
        return FileInfo(path, response.size, response.modified, is_dir=False)

    # -- writer ----------------------------------------------------------------------------

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        validate_path(path)
        record = await self._read_record(path)
        if not append:
            if record is not None:
                # What the record names is all there is to discard: every upload is
                # recorded before its first part (see the module docstring).
                if record.upload_id is not None:
                    await self._abort(path, self._key(path), record.upload_id)
                await self._delete_record(path)
            return _S3Writer(self, path, upload_id=None, parts=[], next_part=1, tail=b"")
        if record is None:
            raise PathNotFound(path)
        if record.unclosed and record.upload_id is not None:
            # A writer that never closed: it keeps every part it uploaded.
            listed = await self._list_parts(path, record.upload_id)
            return _S3Writer(
                self,
                path,
                upload_id=record.upload_id,
                parts=sorted(listed.values(), key=lambda p: p.number),
                next_part=max(listed, default=0) + 1,
                tail=b"",
                resumed=True,
            )
        upload_id, numbers, tail, shed = (
            record.upload_id,
            record.parts,
            record.tail,
            record.shed,
        )
        try:
            listed = await self._list_parts(path, upload_id) if upload_id else {}
        except PathNotFound:
            if shed is None:
                raise
            # Completed whole by a commit that shed stray parts: copy the kept ones out.
            upload_id, parts = await self._copy_ranges(path, shed)
            return _S3Writer(
                self,
                path,
                upload_id=upload_id,
                parts=parts,
                next_part=len(parts) + 1,
                tail=tail,
                resumed=True,
            )
        try:
            parts = [listed[number] for number in numbers]
        except KeyError:
            raise S3Error("the upload's stored parts are incomplete") from None
        return _S3Writer(
            self,
            path,
            upload_id=upload_id,
            parts=parts,
            next_part=max([*listed, *numbers, 0]) + 1,
            tail=tail,
            resumed=True,
            stray=[part for number, part in listed.items() if number not in set(numbers)],
        )

    async def _copy_ranges(
        self, path: str, ranges: Sequence[tuple[int, int]]
    ) -> tuple[str, list[_Part]]:
        """A new multipart upload at ``path`` whose parts copy ``ranges`` (offset, size)
        of the object at ``path``, in order; returns its id and parts."""
        key = self._key(path)
        created = await self._call(
            "create_multipart_upload",
            path,
            Key=key,
            ContentType="application/octet-stream",
            **self._object_args(),
        )
        upload_id = str(created["UploadId"])
        parts: dict[int, _Part] = {}

        async def copy(number: int, offset: int, size: int) -> None:
            result = await self._call(
                "upload_part_copy",
                path,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self._params.bucket, "Key": key},
                CopySourceRange=f"bytes={offset}-{offset + size - 1}",
            )
            parts[number] = _Part(number, size, str(result["CopyPartResult"]["ETag"]))

        await _bounded(
            (copy(number, *span) for number, span in enumerate(ranges, start=1)),
            self._params.multipartcopymaxconcurrency,
        )
        return upload_id, [parts[number] for number in sorted(parts)]

    async def _read_record(self, path: str) -> _Record | None:
        """The pending record of ``path``, or None if it has none."""
        key = self._record_key(path)
        try:
            response = await self._object_request(
                "get_object", path, lambda o: o.get(key, metadata=True)
            )
        except PathNotFound:
            return None
        metadata = response.metadata
        try:
            numbers = _parse_ranges(metadata.get(_META_PARTS, ""))
            shed = _parse_spans(metadata[_META_SHED]) if _META_SHED in metadata else None
        except ValueError:
            raise S3Error("the upload's pending record is corrupt") from None
        return _Record(
            metadata.get(_META_UPLOAD) or None,
            numbers,
            response.body,
            shed,
            unclosed=_META_UNCLOSED in metadata,
        )

    async def _delete_record(self, path: str) -> None:
        key = self._record_key(path)
        await self._object_request("delete_object", path, lambda o: o.delete(key))

    async def _uploads(self, path: str, *, exact: bool = False) -> list[tuple[str, str]]:
        """In-progress multipart uploads (key, id) at ``path``, or below it unless
        ``exact``."""
        key = self._key(path) if path != "/" else self._root
        found: list[tuple[str, str]] = []
        async for page in self._pages("list_multipart_uploads", path, Prefix=key):
            for upload in page.get("Uploads", []):
                name = upload["Key"]
                if name == key if exact else _is_at_or_below(name, key, path == "/"):
                    found.append((name, upload["UploadId"]))
        return found

    async def _list_parts(self, path: str, upload_id: str) -> dict[int, _Part]:
        parts: dict[int, _Part] = {}
        async for page in self._pages("list_parts", path, Key=self._key(path), UploadId=upload_id):
            for part in page.get("Parts", []):
                number = int(part["PartNumber"])
                parts[number] = _Part(number, int(part["Size"]), str(part["ETag"]))
        return parts

    async def _abort(self, path: str, key: str, upload_id: str) -> None:
        # Already completed or aborted elsewhere is as good as aborted here.
        with contextlib.suppress(PathNotFound):
            await self._call("abort_multipart_upload", path, Key=key, UploadId=upload_id)

    async def _discard_uploads(self, path: str) -> bool:
        """Abort the uploads and delete the pending records at ``path`` or below it (for
        ``delete``, which must also find uploads no record names); True if any."""
        uploads = await self._uploads(path)
        await _bounded(
            (self._abort(path, key, upload_id) for key, upload_id in uploads),
            self._params.multipartcopymaxconcurrency,
        )
        records: list[str] = []
        record = self._record_key(path) if path != "/" else self._root + _PENDING_DIR
        async for page in self._listing(path, record):
            records.extend(
                obj.key for obj in page.objects if _is_at_or_below(obj.key, record, False)
            )
        await self._delete_keys(path, records)
        return bool(uploads or records)

    # -- metadata --------------------------------------------------------------------------

    async def stat(self, path: str) -> FileInfo:
        validate_path(path, allow_root=True)
        if path == "/":
            return FileInfo(path, 0, datetime.now(UTC), is_dir=True)
        try:
            return await self._head(path)
        except PathNotFound:
            pass
        if not await self._holds_objects(path, self._dir_prefix(path)):
            raise PathNotFound(path)
        return FileInfo(path, 0, datetime.now(UTC), is_dir=True)

    async def list(self, path: str) -> list[str]:
        validate_path(path, allow_root=True)
        prefix = self._dir_prefix(path)
        base = "" if path == "/" else path
        files: set[str] = set()
        directories: set[str] = set()
        async for page in self._listing(
            path, prefix, delimiter="/", page_size=self._params.list_page_size
        ):
            names = (obj.key[len(prefix) :] for obj in page.objects)
            files.update(f"{base}/{name}" for name in names if _VISIBLE.fullmatch(name))
            prefixes = (p[len(prefix) : -1] for p in page.prefixes)
            directories.update(f"{base}/{name}" for name in prefixes if _VISIBLE.fullmatch(name))
        children = files | await self._non_empty(directories)
        if not children and path != "/":
            raise PathNotFound(path)
        return sorted(children)

    async def _non_empty(self, directories: Iterable[str]) -> set[str]:
        """The directories that still hold an object.

        Servers that keep real directories (SeaweedFS) report an emptied directory as a
        common prefix until a delayed cleanup removes it; a one-key listing of its own
        prefix is empty at once, so each reported directory is checked that way.
        """
        found: set[str] = set()

        async def check(directory: str) -> None:
            if await self._holds_objects(directory, self._dir_prefix(directory)):
                found.add(directory)

        await _bounded((check(d) for d in directories), _CHECK_CONCURRENCY)
        return found

    async def walk(
        self, path: str, skip_dir: Callable[[FileInfo], bool] | None = None
    ) -> AsyncIterator[FileInfo]:
        """Everything below ``path`` from one recursive listing, directories synthesised."""
        validate_path(path, allow_root=True)
        base = "" if path == "/" else path
        opened: list[str] = []
        skipping: str | None = None
        found = False
        async for relative, size, mod_time in self._files_in_tree_order(path):
            found = True
            file_path = f"{base}/{relative}"
            if skipping is not None and file_path.startswith(skipping):
                continue
            *dirs, _ = relative.split("/")
            common = 0
            while common < min(len(opened), len(dirs)) and opened[common] == dirs[common]:
                common += 1
            del opened[common:]
            skipped = False
            for name in dirs[common:]:
                opened.append(name)
                info = FileInfo(f"{base}/{'/'.join(opened)}", 0, mod_time, is_dir=True)
                yield info
                if skip_dir is not None and skip_dir(info):
                    skipping = info.path + "/"
                    skipped = True
                    break
            if not skipped:
                yield FileInfo(file_path, size, mod_time, is_dir=False)
        if not found and path != "/":
            raise PathNotFound(path)

    async def _files_in_tree_order(self, path: str) -> AsyncIterator[tuple[str, int, datetime]]:
        """Keys below ``path`` (relative, valid ones only) in depth-first lexical order.

        S3 lists keys in byte order, where ``a-b`` sorts before ``a/x`` because ``-`` and
        ``.`` sort before ``/``; the tree's order puts ``a``'s contents first. A key is
        held back until no later key can sort before it in the tree: for each ``-`` or
        ``.`` at position i, once the listing has passed every key starting with the
        first i characters followed by ``/``.
        """
        prefix = self._dir_prefix(path)
        held: list[tuple[str, str, int, datetime]] = []
        async for page in self._listing(path, prefix, page_size=self._params.list_page_size):
            last = ""
            for obj in page.objects:
                relative = obj.key[len(prefix) :]
                last = relative
                if not all(_VISIBLE.fullmatch(name) for name in relative.split("/")):
                    continue
                item = (relative.replace("/", "\0"), relative, obj.size)
                heapq.heappush(held, (*item, obj.modified))
            while held and last and _settled(held[0][1], last):
                _, relative, size, mod_time = heapq.heappop(held)
                yield relative, size, mod_time
        while held:
            _, relative, size, mod_time = heapq.heappop(held)
            yield relative, size, mod_time

    # -- move and delete -------------------------------------------------------------------

    async def move(self, source: str, destination: str) -> None:
        validate_path(source)
        validate_path(destination)
        size = (await self._head(source)).size
        if source == destination:
            return
        if size <= self._params.multipartcopythresholdsize:
            await self._call(
                "copy_object",
                source,
                Key=self._key(destination),
                CopySource={"Bucket": self._params.bucket, "Key": self._key(source)},
                **self._object_args(),
            )
        else:
            await self._multipart_copy(source, destination, size)
        await self._call("delete_object", source, Key=self._key(source))

    async def _multipart_copy(self, source: str, destination: str, size: int) -> None:
        """Copy ``source`` server-side in ranges, for objects above the copy threshold."""
        key = self._key(destination)
        created = await self._call(
            "create_multipart_upload", destination, Key=key, **self._object_args()
        )
        upload_id = created["UploadId"]
        chunk = self._params.multipartcopychunksize
        if -(-size // chunk) > MAX_PARTS:
            chunk = -(-size // MAX_PARTS)
        etags: dict[int, str] = {}

        async def copy_part(number: int, start: int) -> None:
            end = min(size, start + chunk) - 1
            result = await self._call(
                "upload_part_copy",
                source,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self._params.bucket, "Key": self._key(source)},
                CopySourceRange=f"bytes={start}-{end}",
            )
            etags[number] = result["CopyPartResult"]["ETag"]

        try:
            await _bounded(
                (
                    copy_part(number, start)
                    for number, start in enumerate(range(0, size, chunk), start=1)
                ),
                self._params.multipartcopymaxconcurrency,
            )
            await self._call(
                "complete_multipart_upload",
                destination,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
                },
            )
        except BaseException:
            await asyncio.shield(self._abort(destination, key, upload_id))
            raise

    async def delete(self, path: str) -> None:
        validate_path(path, allow_root=True)
        found = False
        if path != "/":
            try:
                await self._head(path)
            except PathNotFound:
                pass
            else:
                await self._call("delete_object", path, Key=self._key(path))
                found = True
        batch: list[str] = []
        async for page in self._listing(
            path, self._dir_prefix(path), page_size=self._params.list_page_size
        ):
            for obj in page.objects:
                batch.append(obj.key)
                found = True
                if len(batch) == DELETE_BATCH:
                    await self._delete_keys(path, batch)
                    batch = []
        await self._delete_keys(path, batch)
        if await self._discard_uploads(path):
            found = True
        if not found:
            raise PathNotFound(path)

    async def delete_many(self, paths: Sequence[str]) -> None:
        """Delete the objects at ``paths`` with DeleteObjects, a thousand per request, or
        one DeleteObject for a single path (an absent key is no error to S3; a folder has
        no object at its own key)."""
        keys = [self._key(validate_path(path)) for path in paths]
        if len(keys) == 1:
            (key,) = keys
            await self._object_request("delete_object", paths[0], lambda o: o.delete(key))
            return
        await self._delete_keys("/", keys)

    async def _delete_keys(self, path: str, keys: Sequence[str]) -> None:
        """Delete ``keys`` with DeleteObjects, at most ``DELETE_BATCH`` per request."""
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            codes = await self._object_request(
                "delete_objects", path, functools.partial(ObjectRequests.delete_objects, keys=batch)
            )
            errors = [code for code in codes if code != "NoSuchKey"]
            if errors:
                raise S3Error(f"object store delete_objects failed for {len(errors)} key(s)")

    # -- redirects -------------------------------------------------------------------------

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A presigned URL for GET or HEAD, valid for 20 minutes; None for other methods."""
        validate_path(path)
        operation = {"GET": "get_object", "HEAD": "head_object"}.get(method.upper())
        if operation is None:
            return None
        client = await self._s3()
        try:
            url: str = await client.generate_presigned_url(
                operation,
                Params={"Bucket": self._params.bucket, "Key": self._key(path)},
                ExpiresIn=REDIRECT_EXPIRY_SECONDS,
            )
        except (ClientError, *_TRANSPORT_ERRORS) as error:
            _fail("presign", path, error)
        return url


# --- the writer ---------------------------------------------------------------------------


class _S3Writer(FileWriter):
    """One session of a multipart upload; see the module docstring for the design."""

    def __init__(
        self,
        driver: S3Driver,
        path: str,
        *,
        upload_id: str | None,
        parts: list[_Part],
        next_part: int,
        tail: bytes,
        resumed: bool = False,
        stray: list[_Part] | None = None,
    ) -> None:
        self._driver = driver
        self._path = path
        self._key = driver._key(path)
        self._upload_id = upload_id
        self._parts = parts
        #: Parts the upload holds beyond ``_parts`` (see the module docstring).
        self._stray = stray or []
        self._next_part = next_part
        self._tail = bytearray(tail)
        #: What the pending record holds: the content after the recorded parts.
        self._recorded_tail = tail
        # Whether a pending record of this path exists, to delete once done.
        self._recorded = resumed
        self._resumed = resumed
        # Whether the stored state lags behind this writer: a fresh writer must record
        # that it exists; a resumed one only once it has changed something.
        self._dirty = not resumed
        self._done = False

    @property
    def size(self) -> int:
        return sum(part.size for part in self._parts) + len(self._tail)

    def _check_open(self) -> None:
        if self._done:
            raise StorageDriverError("the writer is closed")

    async def write(self, data: bytes) -> int:
        self._check_open()
        self._dirty = True
        self._tail += data
        chunk = self._driver.params.chunksize
        while len(self._tail) >= chunk:
            await self._upload_part(chunk)
        return len(data)

    async def _upload_part(self, length: int) -> None:
        """Upload the first ``length`` buffered bytes as the next part."""
        if self._next_part > MAX_PARTS:
            raise S3Error("the upload has too many parts")
        if self._upload_id is None:
            created = await self._driver._call(
                "create_multipart_upload",
                self._path,
                Key=self._key,
                ContentType="application/octet-stream",
                **self._driver._object_args(),
            )
            self._upload_id = str(created["UploadId"])
            await self._record_upload()
        number = self._next_part
        body = bytes(memoryview(self._tail)[:length])
        result = await self._driver._call(
            "upload_part",
            self._path,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._next_part = number + 1
        self._parts.append(_Part(number, length, str(result["ETag"])))
        del self._tail[:length]

    async def _record_upload(self) -> None:
        """Name the new upload in the pending record before its first part, so that
        whoever opens the path finds it there instead of listing uploads: with the
        content the record held (a resumed writer's recorded remainder; nothing for a
        fresh writer, whose record says it never closed)."""
        assert self._upload_id is not None
        metadata = {_META_UPLOAD: self._upload_id}
        if self._resumed:
            # No upload before this one: the recorded content is the remainder alone.
            metadata[_META_PARTS] = ""
            tail = self._recorded_tail
        else:
            metadata[_META_UNCLOSED] = "1"
            tail = b""
        await self._driver._put(self._path, self._driver._record_key(self._path), tail, metadata)
        self._recorded = True

    async def truncate(self, size: int) -> None:
        self._check_open()
        if size < 0 or size > self.size:
            raise InvalidOffset(self._path, size)
        if size == self.size:
            return
        self._dirty = True
        stored = sum(part.size for part in self._parts)
        if size >= stored:
            del self._tail[size - stored :]
            return
        # Below the stored parts only a cut between two parts works: drop the later ones.
        boundary = 0
        for kept, part in enumerate(self._parts):
            if boundary == size:
                self._stray.extend(self._parts[kept:])
                del self._parts[kept:]
                self._tail.clear()
                return
            boundary += part.size
        raise Unsupported("the object store cannot cut an upload inside a stored part")

    async def close(self) -> None:
        if self._done:
            return
        if not self._dirty:
            self._done = True
            return
        if len(self._tail) >= S3_MIN_PART_SIZE:
            await self._upload_part(len(self._tail))
        metadata = {_META_PARTS: _format_ranges(p.number for p in self._parts)}
        if self._upload_id is not None:
            metadata[_META_UPLOAD] = self._upload_id
        await self._driver._put(
            self._path, self._driver._record_key(self._path), bytes(self._tail), metadata
        )
        self._recorded = True
        self._done = True

    async def release(self) -> None:
        """Leave the record as it is: the parts uploaded since are stray, and the buffer
        is dropped, as a crash would leave them."""
        self._done = True

    async def commit(self, destination: str | None = None) -> None:
        """Publish the content at the path, or at ``destination``: directly when it is
        one PutObject, else completed at the path and then moved."""
        self._check_open()
        driver = self._driver
        if destination == self._path:
            destination = None
        if not self._parts:
            target = destination or self._path
            await driver._put(target, driver._key(target), bytes(self._tail))
            destination = None
            if self._upload_id is not None:
                await driver._abort(self._path, self._key, self._upload_id)
        else:
            if self._stray:
                await self._shed_stray_parts()
            if self._tail:
                await self._upload_part(len(self._tail))
            await self._complete(self._parts)
        self._done = True
        if self._recorded:
            await driver._delete_record(self._path)
        if destination is not None:
            await driver.move(self._path, destination)

    async def _complete(self, parts: list[_Part]) -> None:
        await self._driver._call(
            "complete_multipart_upload",
            self._path,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]},
        )

    async def _shed_stray_parts(self) -> None:
        """Leave the stray parts behind: complete the upload with every part it holds,
        then copy the kept parts into a fresh upload that continues this writer."""
        held = sorted([*self._parts, *self._stray], key=lambda part: part.number)
        kept = {part.number for part in self._parts}
        ranges: list[tuple[int, int]] = []
        offset = 0
        for part in held:
            if part.number in kept:
                ranges.append((offset, part.size))
            offset += part.size
        assert self._upload_id is not None  # stored parts belong to an upload
        # The plan first, so a writer resumed after a crash from here on can finish it.
        await self._driver._put(
            self._path,
            self._driver._record_key(self._path),
            bytes(self._tail),
            {
                _META_PARTS: _format_ranges(p.number for p in self._parts),
                _META_UPLOAD: self._upload_id,
                _META_SHED: _format_spans(ranges),
            },
        )
        await self._complete(held)
        self._upload_id, self._parts = await self._driver._copy_ranges(self._path, ranges)
        self._next_part = len(self._parts) + 1
        self._stray = []
        self._recorded = True

    async def cancel(self) -> None:
        if self._upload_id is not None:
            await self._driver._abort(self._path, self._key, self._upload_id)
        self._done = True
        if self._recorded:
            await self._driver._delete_record(self._path)


# --- helpers ------------------------------------------------------------------------------


def _ca_bundle() -> str | None:
    """The CA bundle the SDK would trust too (``AWS_CA_BUNDLE``), else the system's."""
    return os.environ.get("AWS_CA_BUNDLE") or None


def _quiet_sdk_debug_logs() -> None:
    """Keep the SDK's debug logs, which print signed request headers, out of the logs.

    Only loggers nobody configured are raised to INFO; an operator who sets a level on
    ``botocore`` explicitly still gets what they asked for.
    """
    for name in ("botocore", "aiobotocore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def _is_at_or_below(key: str, prefix: str, is_root: bool) -> bool:
    return is_root or key == prefix or key.startswith(prefix + "/")


def _settled(held: str, last: str) -> bool:
    """Whether every key that sorts before ``held`` in the tree was listed by ``last``."""
    for index, char in enumerate(held):
        if char in "-." and last[: index + 1] <= held[:index] + "/":
            return False
    return True


async def _bounded(calls: Iterable[Awaitable[None]], limit: int) -> None:
    """Run ``calls`` with at most ``limit`` in flight; the first failure propagates."""
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Awaitable[None]) -> None:
        async with semaphore:
            await call

    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(run(call))
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an async generator
