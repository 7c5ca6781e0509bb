"""What the S3 driver does beyond the shared suite: multipart uploads that any instance or
process resumes, paging and batching past S3's 1000-key limits, multipart copies,
presigned redirects and keeping credentials out of errors. Runs against SeaweedFS (the
``seaweedfs`` fixture comes from ``tests/drivers/conftest.py``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from s3_server import SeaweedFS, s3_params

from dockyard.cli import EXIT_CONFIG, main
from dockyard.config import ConfigError
from dockyard.storage.driver.base import (
    InvalidOffset,
    PathNotFound,
    StorageDriverError,
    Unsupported,
)
from dockyard.storage.driver.s3 import S3Driver, S3Error

MiB = 1 << 20
OpenS3 = Callable[..., Awaitable[S3Driver]]


@pytest.fixture
async def open_s3(seaweedfs: SeaweedFS) -> AsyncIterator[OpenS3]:
    """Opens S3 drivers that share one fresh root; all are closed after the test."""
    root = f"tests/{uuid.uuid4().hex}"
    drivers: list[S3Driver] = []

    async def open_driver(**params: Any) -> S3Driver:
        driver = S3Driver(seaweedfs.params(root, **params))
        drivers.append(driver)
        return driver

    yield open_driver
    for driver in drivers:
        await driver.close()


@pytest.fixture
async def s3(open_s3: OpenS3) -> S3Driver:
    """An S3 driver with the smallest chunk size, so parts appear at 5 MiB."""
    return await open_s3(chunksize=5 * MiB)


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that differ at every offset within a part."""
    block = bytes((seed + i * 7) % 251 for i in range(251))
    return (block * (size // len(block) + 1))[:size]


async def put_many(driver: S3Driver, paths: list[str]) -> None:
    semaphore = asyncio.Semaphore(32)

    async def put(path: str) -> None:
        async with semaphore:
            await driver.put_content(path, b"x")

    await asyncio.gather(*(put(path) for path in paths))


async def raw_etag(driver: S3Driver, path: str) -> str:
    client = await driver._s3()
    head = await client.head_object(Bucket=driver.params.bucket, Key=driver._key(path))
    return str(head["ETag"]).strip('"')


# --- the server -------------------------------------------------------------------------


async def test_server_rejects_a_wrong_secret(seaweedfs: SeaweedFS) -> None:
    driver = S3Driver(seaweedfs.params("tests/wrong", secretkey="not-the-secret"))
    try:
        with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
            await driver.put_content("/file", b"x")
    finally:
        await driver.close()


async def test_errors_do_not_reveal_credentials(seaweedfs: SeaweedFS) -> None:
    secret = "wrong-" + uuid.uuid4().hex
    driver = S3Driver(seaweedfs.params("tests/wrong", secretkey=secret))
    try:
        with pytest.raises(StorageDriverError) as caught:
            await driver.get_content("/file")
    finally:
        await driver.close()
    shown = f"{caught.value!s} {caught.value!r} {caught.value.__cause__!r}"
    assert secret not in shown
    assert seaweedfs.access_key not in shown
    assert seaweedfs.endpoint not in shown
    assert secret not in repr(driver.params)


async def test_unreachable_endpoint_error_does_not_reveal_it() -> None:
    driver = S3Driver(
        s3_params(
            {
                "bucket": "b",
                "regionendpoint": "http://127.0.0.1:9",
                "accesskey": "AKIDHIDDEN",
                "secretkey": "hidden-secret",
                "forcepathstyle": True,
            }
        )
    )
    try:
        with pytest.raises(S3Error) as caught:
            await driver.get_content("/file")
    finally:
        await driver.close()
    assert "127.0.0.1" not in str(caught.value)
    assert "hidden" not in str(caught.value)


# --- configuration ----------------------------------------------------------------------


def test_params_from_environment_strings() -> None:
    params = s3_params(
        {
            "bucket": "b",
            "regionendpoint": "s3.local:9000",
            "forcepathstyle": "true",
            "secure": "false",
            "chunksize": "6291456",
        }
    )
    assert (params.forcepathstyle, params.secure, params.chunksize) == (True, False, 6 * MiB)
    assert params.endpoint_url() == "http://s3.local:9000"


def test_params_reject_a_chunk_size_below_the_s3_minimum() -> None:
    with pytest.raises(ConfigError, match=r"^storage.s3.chunksize: must be at least 5242880"):
        s3_params({"bucket": "b", "chunksize": 5 * MiB - 1})


def test_params_require_a_bucket() -> None:
    with pytest.raises(ConfigError, match=r"^storage.s3.bucket: required"):
        s3_params({"region": "us-east-1"})


def test_params_storage_class_none_sends_no_storage_class() -> None:
    assert s3_params({"bucket": "b", "storageclass": "NONE"}).storageclass is None


async def raw_encryption(driver: S3Driver, path: str) -> str | None:
    client = await driver._s3()
    head = await client.head_object(Bucket=driver.params.bucket, Key=driver._key(path))
    return head.get("ServerSideEncryption")


async def test_encrypt_stores_every_kind_of_write_encrypted(open_s3: OpenS3) -> None:
    driver = await open_s3(encrypt="true", chunksize=5 * MiB)
    await driver.put_content("/small", b"secret layer")
    writer = await driver.writer("/large")
    await writer.write(pattern(6 * MiB))
    await writer.commit()
    await driver.move("/small", "/moved")
    for path in ("/large", "/moved"):
        assert await raw_encryption(driver, path) == "AES256"


# --- multipart writers ------------------------------------------------------------------


async def test_parts_over_five_mib_become_one_multipart_object(s3: S3Driver) -> None:
    content = pattern(12 * MiB + 3)
    writer = await s3.writer("/up/data")
    for start in range(0, len(content), MiB):
        await writer.write(content[start : start + MiB])
    await writer.commit()
    assert await s3.get_content("/up/data") == content
    assert (await raw_etag(s3, "/up/data")).endswith("-3")


async def test_writer_resumes_from_a_second_driver_instance(open_s3: OpenS3) -> None:
    first = await open_s3(chunksize=5 * MiB)
    second = await open_s3(chunksize=5 * MiB)
    head, rest = pattern(7 * MiB, 1), pattern(4 * MiB, 2)
    writer = await first.writer("/up/data")
    await writer.write(head)
    await writer.close()
    resumed = await second.writer("/up/data", append=True)
    assert resumed.size == len(head)
    await resumed.write(rest)
    await resumed.commit()
    assert await first.get_content("/up/data") == head + rest


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from dockyard.config import from_dict
    from dockyard.storage.driver.s3 import S3Driver

    async def main() -> None:
        params, path, size = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        driver = S3Driver(from_dict({"version": "0.1", "storage": {"s3": params}}).storage.params)
        writer = await driver.writer(path, append=sys.argv[4] == "append")
        await writer.write(bytes(range(256)) * (size // 256))
        await writer.close()
        await driver.close()
        print(writer.size)

    asyncio.run(main())
    """
)


async def run_child(params: dict[str, Any], path: str, size: int, mode: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        json.dumps(params),
        path,
        str(size),
        mode,
        stdout=subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    return int(output)


async def test_writer_resumes_what_another_process_wrote(
    seaweedfs: SeaweedFS,
    open_s3: OpenS3,
) -> None:
    driver = await open_s3(chunksize=5 * MiB)
    params = seaweedfs.driver_params(driver.params.rootdirectory, chunksize=5 * MiB)
    child_bytes = bytes(range(256)) * (6 * MiB // 256)
    assert await run_child(params, "/up/data", len(child_bytes), "fresh") == len(child_bytes)
    writer = await driver.writer("/up/data", append=True)
    assert writer.size == len(child_bytes)
    await writer.write(b"parent")
    await writer.commit()
    assert await driver.get_content("/up/data") == child_bytes + b"parent"


async def test_another_process_resumes_what_this_one_wrote(
    seaweedfs: SeaweedFS,
    open_s3: OpenS3,
) -> None:
    driver = await open_s3(chunksize=5 * MiB)
    writer = await driver.writer("/up/data")
    await writer.write(b"parent")
    await writer.close()
    params = seaweedfs.driver_params(driver.params.rootdirectory, chunksize=5 * MiB)
    assert await run_child(params, "/up/data", 1024, "append") == 6 + 1024
    writer = await driver.writer("/up/data", append=True)
    await writer.commit()
    assert await driver.get_content("/up/data") == b"parent" + bytes(range(256)) * 4


async def test_small_appends_across_several_writers_then_commit(open_s3: OpenS3) -> None:
    expected = b""
    for index in range(12):
        # A fresh instance each time, as if every chunk reached another registry instance.
        driver = await open_s3(chunksize=5 * MiB)
        writer = await driver.writer("/up/data", append=index > 0)
        assert writer.size == len(expected)
        piece = pattern(700 * 1024, index)
        await writer.write(piece)
        expected += piece
        await writer.close()
    driver = await open_s3(chunksize=5 * MiB)
    writer = await driver.writer("/up/data", append=True)
    assert writer.size == len(expected)
    await writer.commit()
    assert await driver.get_content("/up/data") == expected
    assert (await raw_etag(driver, "/up/data")).endswith("-2")


async def test_resume_ignores_parts_uploaded_after_the_last_close(s3: S3Driver) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(b"acknowledged")
    await writer.close()
    lost = await s3.writer("/up/data", append=True)
    await lost.write(pattern(6 * MiB))  # uploads a part, then the process "dies"
    resumed = await s3.writer("/up/data", append=True)
    assert resumed.size == len(b"acknowledged")
    await resumed.write(pattern(5 * MiB, 3))
    await resumed.write(b"!")
    await resumed.commit()
    assert await s3.get_content("/up/data") == b"acknowledged" + pattern(5 * MiB, 3) + b"!"


async def test_resume_of_a_writer_that_never_closed_keeps_its_uploaded_parts(
    s3: S3Driver,
) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(6 * MiB))  # one 5 MiB part stored, 1 MiB only in memory
    resumed = await s3.writer("/up/data", append=True)
    assert resumed.size == 5 * MiB
    await resumed.commit()
    assert await s3.get_content("/up/data") == pattern(5 * MiB)


async def test_truncate_to_a_part_boundary_drops_trailing_parts(s3: S3Driver) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(11 * MiB))
    await writer.close()
    resumed = await s3.writer("/up/data", append=True)
    await resumed.truncate(5 * MiB)
    assert resumed.size == 5 * MiB
    await resumed.write(b"end")
    await resumed.commit()
    assert await s3.get_content("/up/data") == pattern(5 * MiB) + b"end"


async def test_truncate_to_zero_drops_every_stored_part(s3: S3Driver) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(6 * MiB))
    await writer.truncate(0)
    assert writer.size == 0
    await writer.write(b"restart")
    await writer.commit()
    assert await s3.get_content("/up/data") == b"restart"


async def test_truncate_inside_a_stored_part_raises_unsupported(s3: S3Driver) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(6 * MiB))
    with pytest.raises(Unsupported):
        await writer.truncate(MiB)
    with pytest.raises(InvalidOffset):
        await writer.truncate(7 * MiB)
    await writer.cancel()


Completions = list[tuple[set[int], set[int]]]


@pytest.fixture
def completions(s3: S3Driver, monkeypatch: pytest.MonkeyPatch) -> Completions:
    """Every multipart completion ``s3`` makes: the part numbers it names, and those the
    upload held just before (listed from the server)."""
    seen: Completions = []
    call = s3._call

    async def audited(operation: str, path: str, **kwargs: Any) -> Any:
        if operation == "complete_multipart_upload":
            held = set(await s3._list_parts(path, kwargs["UploadId"]))
            named = {part["PartNumber"] for part in kwargs["MultipartUpload"]["Parts"]}
            seen.append((named, held))
        return await call(operation, path, **kwargs)

    monkeypatch.setattr(s3, "_call", audited)
    return seen


async def test_completion_after_a_lost_chunk_names_every_part_the_upload_holds(
    s3: S3Driver, completions: Completions
) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(11 * MiB))  # parts 1-2 stored, 1 MiB in the record
    await writer.close()
    lost = await s3.writer("/up/data", append=True)
    await lost.write(pattern(12 * MiB, 1))  # parts 3-4 uploaded, then the process "dies"
    resumed = await s3.writer("/up/data", append=True)
    assert resumed.size == 11 * MiB
    await resumed.write(pattern(6 * MiB, 2))
    await resumed.commit()
    assert await s3.get_content("/up/data") == pattern(11 * MiB) + pattern(6 * MiB, 2)
    assert completions
    assert all(named == held for named, held in completions)


async def test_completion_after_a_truncate_names_every_part_the_upload_holds(
    s3: S3Driver, completions: Completions
) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(11 * MiB))
    await writer.close()
    resumed = await s3.writer("/up/data", append=True)
    await resumed.truncate(5 * MiB)
    await resumed.write(b"end")
    await resumed.commit()
    assert await s3.get_content("/up/data") == pattern(5 * MiB) + b"end"
    assert completions
    assert all(named == held for named, held in completions)


async def test_writer_resumed_after_a_crash_while_shedding_stray_parts_finishes(
    s3: S3Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(11 * MiB))
    await writer.close()
    resumed = await s3.writer("/up/data", append=True)
    await resumed.truncate(5 * MiB)
    await resumed.write(b"end")

    async def crash(*args: Any) -> Any:
        raise RuntimeError("killed after the whole upload was completed")

    with monkeypatch.context() as patched:
        patched.setattr(s3, "_copy_ranges", crash)
        with pytest.raises(RuntimeError):
            await resumed.commit()
    again = await s3.writer("/up/data", append=True)
    assert again.size == 5 * MiB + len(b"end")
    await again.commit()
    assert await s3.get_content("/up/data") == pattern(5 * MiB) + b"end"
    assert await s3.list("/up") == ["/up/data"]


async def test_check_passes_on_a_bucket_that_takes_writes(s3: S3Driver) -> None:
    await s3.check()
    await s3.check(writable=False)
    assert await s3.list("/") == []


async def test_check_names_the_bucket_key_when_the_bucket_is_missing(open_s3: OpenS3) -> None:
    driver = await open_s3(bucket="no-such-bucket")
    with pytest.raises(StorageDriverError, match=r"^storage\.s3\.bucket: the bucket does not"):
        await driver.check()


def _config_with_missing_bucket(seaweedfs: SeaweedFS, directory: Path) -> Path:
    params = seaweedfs.driver_params(bucket="no-such-bucket")
    path = directory / "config.yml"
    path.write_text(
        json.dumps({"version": 0.1, "storage": {"s3": params}, "http": {"addr": "127.0.0.1:0"}})
    )
    return path


def test_config_check_fails_naming_the_key_of_a_missing_bucket(
    seaweedfs: SeaweedFS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config_with_missing_bucket(seaweedfs, tmp_path)
    assert main(["config", "check", str(path)]) == EXIT_CONFIG
    assert "storage.s3.bucket: the bucket does not exist" in capsys.readouterr().err


def test_serve_stops_naming_the_key_of_a_missing_bucket(
    seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    path = _config_with_missing_bucket(seaweedfs, tmp_path)
    served = subprocess.run(
        [str(Path(sys.executable).with_name("dockyard")), "serve", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == EXIT_CONFIG
    assert "storage.s3.bucket: the bucket does not exist" in served.stderr


async def test_cancel_aborts_the_multipart_upload(s3: S3Driver) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(pattern(6 * MiB))
    await writer.close()
    resumed = await s3.writer("/up/data", append=True)
    await resumed.cancel()
    client = await s3._s3()
    uploads = await client.list_multipart_uploads(
        Bucket=s3.params.bucket, Prefix=s3._key("/up/data")
    )
    assert uploads.get("Uploads", []) == []
    with pytest.raises(PathNotFound):
        await s3.writer("/up/data", append=True)


async def test_pending_records_are_invisible_at_the_root(s3: S3Driver) -> None:
    writer = await s3.writer("/data")
    await writer.write(b"pending")
    await writer.close()
    assert await s3.list("/") == []
    assert [info.path async for info in s3.walk("/")] == []
    with pytest.raises(PathNotFound):
        await s3.stat("/data")


async def test_delete_of_root_discards_pending_uploads(s3: S3Driver) -> None:
    writer = await s3.writer("/up/data")
    await writer.write(b"pending")
    await writer.close()
    await s3.delete("/")
    with pytest.raises(PathNotFound):
        await s3.writer("/up/data", append=True)


# --- listing, walking and deleting many keys --------------------------------------------


async def test_list_pages_through_more_than_1000_keys(s3: S3Driver) -> None:
    paths = [f"/many/{index:05d}" for index in range(1005)]
    await put_many(s3, paths)
    assert await s3.list("/many") == paths


async def test_list_with_a_small_page_size_returns_every_child(open_s3: OpenS3) -> None:
    driver = await open_s3(list_page_size=7)
    paths = [f"/few/{index:02d}" for index in range(30)] + ["/few/sub/x"]
    await put_many(driver, paths)
    assert await driver.list("/few") == sorted([*paths[:30], "/few/sub"])


async def test_walk_pages_in_tree_order_where_byte_order_differs(open_s3: OpenS3) -> None:
    driver = await open_s3(list_page_size=2)
    files = ["/r/a/x", "/r/a-b", "/r/a.c/y", "/r/a/z/1", "/r/a0", "/r/b-", "/r/b/c"]
    await put_many(driver, files)
    walked = [info.path async for info in driver.walk("/r")]
    assert walked == [
        "/r/a",
        "/r/a/x",
        "/r/a/z",
        "/r/a/z/1",
        "/r/a-b",
        "/r/a.c",
        "/r/a.c/y",
        "/r/a0",
        "/r/b",
        "/r/b/c",
        "/r/b-",
    ]


async def test_walk_skip_dir_with_paging(open_s3: OpenS3) -> None:
    driver = await open_s3(list_page_size=3)
    await put_many(driver, [f"/r/skip/{i}" for i in range(10)] + ["/r/keep/1", "/r/z"])
    walked = [info.path async for info in driver.walk("/r", skip_dir=lambda i: i.path == "/r/skip")]
    assert walked == ["/r/keep", "/r/keep/1", "/r/skip", "/r/z"]


async def test_delete_removes_more_than_1000_keys_in_batches(s3: S3Driver) -> None:
    paths = [f"/doomed/{index // 100}/{index:05d}" for index in range(1003)]
    await put_many(s3, [*paths, "/kept"])
    await s3.delete("/doomed")
    assert await s3.list("/") == ["/kept"]
    with pytest.raises(PathNotFound):
        await s3.stat("/doomed")


# --- move -------------------------------------------------------------------------------


async def test_move_above_the_threshold_uses_multipart_copy(open_s3: OpenS3) -> None:
    driver = await open_s3(multipartcopythresholdsize=MiB, multipartcopychunksize=5 * MiB)
    content = pattern(11 * MiB + 5)
    await driver.put_content("/from", content)
    await driver.move("/from", "/to/blob")
    assert await driver.get_content("/to/blob") == content
    assert (await raw_etag(driver, "/to/blob")).endswith("-3")
    with pytest.raises(PathNotFound):
        await driver.stat("/from")


async def test_move_onto_itself_keeps_the_content(s3: S3Driver) -> None:
    await s3.put_content("/same", b"kept")
    await s3.move("/same", "/same")
    assert await s3.get_content("/same") == b"kept"


# --- redirects --------------------------------------------------------------------------


async def test_redirect_url_serves_the_content_without_credentials(s3: S3Driver) -> None:
    await s3.put_content("/blob", b"redirected content")
    url = await s3.redirect_url("/blob")
    assert url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == b"redirected content"


async def test_redirect_url_for_head(s3: S3Driver) -> None:
    await s3.put_content("/blob", b"12345")
    url = await s3.redirect_url("/blob", "HEAD")
    assert url is not None
    async with httpx.AsyncClient() as client:
        response = await client.head(url)
    assert response.status_code == 200
    assert response.headers["content-length"] == "5"


async def test_redirect_url_expires_in_twenty_minutes(s3: S3Driver) -> None:
    url = await s3.redirect_url("/blob")
    assert url is not None
    assert "X-Amz-Expires=1200" in url


async def test_redirect_url_for_other_methods_is_none(s3: S3Driver) -> None:
    assert await s3.redirect_url("/blob", "PUT") is None


# --- reading through a dropped connection -----------------------------------------------


class CuttingProxy:
    """A TCP proxy to the S3 server that drops its first connection after ``cut_after``
    response bytes, the way a flaky network or a restarted load balancer would."""

    def __init__(
        self,
        upstream: str,
        cut_after: int,
        before_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._cut_after = cut_after
        self._before_reconnect = before_reconnect
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter):
        self.connections += 1
        limit = self._cut_after if self.connections == 1 else None
        if self.connections == 2 and self._before_reconnect is not None:
            await self._before_reconnect()
        server_in, server_out = await asyncio.open_connection(*self._upstream)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, limit: int | None
        ) -> None:
            sent = 0
            try:
                while data := await source.read(65536):
                    if limit is not None and sent + len(data) >= limit:
                        sink.write(data[: limit - sent])
                        break
                    sent += len(data)
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                for writer in (client_out, server_out):
                    writer.close()

        await asyncio.gather(pipe(client_in, server_out, None), pipe(server_in, client_out, limit))


async def test_reader_reconnects_where_a_dropped_connection_stopped(
    seaweedfs: SeaweedFS,
    s3: S3Driver,
) -> None:
    content = pattern(3 * MiB + 11)
    await s3.put_content("/blob", content)
    proxy = CuttingProxy(seaweedfs.endpoint, cut_after=MiB)
    async with proxy as endpoint:
        reader = S3Driver(seaweedfs.params(s3.params.rootdirectory, regionendpoint=endpoint))
        try:
            read = b"".join([chunk async for chunk in await reader.reader("/blob", 5)])
        finally:
            await reader.close()
    assert read == content[5:]
    assert proxy.connections == 2


async def test_reader_fails_rather_than_mix_contents_replaced_while_reconnecting(
    seaweedfs: SeaweedFS,
    s3: S3Driver,
) -> None:
    await s3.put_content("/blob", pattern(3 * MiB, 1))

    async def replace() -> None:
        await s3.put_content("/blob", pattern(3 * MiB, 2))

    async with CuttingProxy(seaweedfs.endpoint, MiB, before_reconnect=replace) as endpoint:
        reader = S3Driver(seaweedfs.params(s3.params.rootdirectory, regionendpoint=endpoint))
        try:
            with pytest.raises(S3Error, match="PreconditionFailed"):
                async for _ in await reader.reader("/blob"):
                    pass
        finally:
            await reader.close()
