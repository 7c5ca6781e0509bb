"""``dockyard serve`` as a process: defaults, environment, workers, TLS, shutdown."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from e2e_images import OciLayout, sha256
from e2e_processes import (
    ServerProcess,
    StartDockyard,
    clean_environment,
    copy,
    dockyard_config,
    dockyard_process,
)

BLOB = os.urandom(300_000)


def with_digest(location: str, digest: str) -> str:
    """``location`` with ``digest=`` added to its query (httpx's params= would replace it)."""
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def push_in_chunks(url: str, repository: str, data: bytes, chunks: int) -> httpx.Response:
    """A chunked upload where every request opens a new connection (so, with several
    workers, the chunks land on different processes)."""
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, limits=limits) as client:
        started = client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        size = -(-len(data) // chunks)
        for offset in range(0, len(data), size):
            chunk = data[offset : offset + size]
            response = client.patch(
                location,
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            assert response.status_code == 202, response.text
            location = response.headers["location"]
        return client.put(with_digest(location, sha256(data)))


def test_serve_without_config_keeps_data_in_a_local_folder(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    server = ServerProcess(
        "bare",
        [sys.executable, "-m", "dockyard.cli", "serve"],
        cwd=tmp_path,
        env=clean_environment(REGISTRY_HTTP_ADDR=f"127.0.0.1:{port}"),
        port=port,
        workers=1,  # the default (server.DEFAULT_WORKERS)
    )
    server.start()
    try:
        assert push_in_chunks(server.url, "bare/repo", BLOB, 1).status_code == 201
        digest = sha256(BLOB).split(":")[1]
        stored = tmp_path / ".data/docker/registry/v2/blobs/sha256" / digest[:2] / digest / "data"
        assert stored.read_bytes() == BLOB
        assert "generated a random secret" in server.stderr()
    finally:
        assert server.stop() == 0


def test_sigterm_stops_every_process_with_status_0(start_dockyard: StartDockyard) -> None:
    server = start_dockyard(workers=2)
    assert server.process is not None
    pid = server.process.pid
    # granian loses a stop signal that reaches a worker just as it starts serving (after
    # "Started worker-N", before its event loop runs again): see serving.py. Stopping a
    # server that has settled is what this test is about.
    time.sleep(1)
    assert server.stop(timeout=15) == 0, server.stderr()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/v2/", timeout=2)
    assert "Stopped worker-2" in server.stderr()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize(
    ("workers", "moment"),
    [(1, "dockyard serving"), (2, "dockyard serving")],
)
def test_sigterm_while_starting_stops_every_process_with_status_0(
    tmp_path: Path, free_port: Callable[[], int], workers: int, moment: str
) -> None:
    port = free_port()
    config = dockyard_config(tmp_path / "root", port, workers=workers)
    server = dockyard_process(tmp_path, port, config, env={"REGISTRY_HTTP_SECRET": "s" * 32})
    server.launch()
    try:
        deadline = time.monotonic() + 30
        while moment not in server.stderr():
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.002)
    finally:
        status = server.stop(timeout=15)
    assert status == 0, server.stderr()


def test_sigterm_lets_a_request_in_flight_finish(start_dockyard: StartDockyard) -> None:
    server = start_dockyard()
    started = httpx.post(f"{server.url}/v2/slow/repo/blobs/uploads/")
    location = started.headers["location"]
    halfway = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield BLOB[:1000]
        halfway.set()
        time.sleep(1.5)
        yield BLOB[1000:]

    result: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: result.append(httpx.patch(location, content=slow_body(), timeout=20))
    )
    sender.start()
    assert halfway.wait(10)
    process = server.process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    sender.join(20)
    assert result
    assert result[0].status_code == 202
    assert result[0].headers["range"] == f"0-{len(BLOB) - 1}"
    # A second SIGTERM during shutdown would kill granian outright, so wait, not stop().
    assert process.wait(20) == 0


def test_upload_session_spans_workers_sharing_a_generated_secret(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'root'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  workers: 2\n"
    )
    server = ServerProcess(
        "workers",
        [sys.executable, "-m", "dockyard.cli", "serve", str(config)],
        cwd=tmp_path,
        env=clean_environment(),
        port=port,
        workers=2,
    ).start()
    try:
        for attempt in range(3):
            response = push_in_chunks(server.url, f"spread/repo{attempt}", BLOB, 12)
            assert response.status_code == 201, response.text
    finally:
        server.stop()


def test_environment_turns_on_read_only_mode(
    start_dockyard: StartDockyard, layout: OciLayout, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    writable = start_dockyard(root)
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{writable.host}/ro/repo:v1")
    writable.stop()

    server = start_dockyard(root, env={"REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true"})
    refused = httpx.post(f"{server.url}/v2/ro/repo/blobs/uploads/")
    assert refused.status_code in (405, 503)
    assert refused.json()["errors"]
    with pytest.raises(AssertionError):
        copy(layout.ref("v1"), f"docker://{server.host}/ro/other:v1")
    manifest = httpx.get(
        f"{server.url}/v2/ro/repo/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert manifest.status_code == 200
    assert manifest.headers["docker-content-digest"] == image.digest


def test_environment_disables_deletes(start_dockyard: StartDockyard, layout: OciLayout) -> None:
    server = start_dockyard(env={"REGISTRY_STORAGE_DELETE_ENABLED": "false"})
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{server.host}/keep/repo:v1")
    refused = httpx.delete(f"{server.url}/v2/keep/repo/manifests/{image.digest}")
    assert refused.status_code == 405
    assert refused.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_configured_headers_are_added_to_every_response(start_dockyard: StartDockyard) -> None:
    server = start_dockyard(config_http={"headers": {"X-Content-Type-Options": ["nosniff"]}})
    for path in ("/v2/", "/v2/no/such/manifests/latest"):
        assert httpx.get(server.url + path).headers["x-content-type-options"] == "nosniff"


def test_configured_host_is_used_in_locations(start_dockyard: StartDockyard) -> None:
    server = start_dockyard(config_http={"host": "https://registry.example.com"})
    response = httpx.post(f"{server.url}/v2/some/repo/blobs/uploads/")
    assert response.headers["location"].startswith(
        "https://registry.example.com/v2/some/repo/blobs/uploads/"
    )


def test_prefix_serves_the_api_below_it(start_dockyard: StartDockyard) -> None:
    server = start_dockyard(config_http={"prefix": "/mirror/"})
    assert httpx.get(f"{server.url}/mirror/v2/").status_code == 200
    assert httpx.get(f"{server.url}/v2/").status_code == 404
    started = httpx.post(f"{server.url}/mirror/v2/some/repo/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["location"]
    assert "/mirror/v2/some/repo/blobs/uploads/" in location
    absolute = location if location.startswith("http") else server.url + location
    committed = httpx.put(with_digest(absolute, sha256(b"x")), content=b"x")
    assert committed.status_code == 201
    assert "/mirror/v2/some/repo/blobs/" in committed.headers["location"]


def test_access_log_can_be_disabled(start_dockyard: StartDockyard) -> None:
    logged = start_dockyard(name="logged")
    quiet = start_dockyard(config={"log": {"accesslog": {"disabled": True}}}, name="quiet")
    for server in (logged, quiet):
        httpx.get(f"{server.url}/v2/_catalog")
    time.sleep(0.5)
    assert "GET /v2/_catalog" in logged.stdout()
    assert "GET /v2/_catalog" not in quiet.stdout()


def test_json_log_formatter_writes_one_object_per_line(start_dockyard: StartDockyard) -> None:
    server = start_dockyard(
        config={"log": {"level": "info", "formatter": "json", "fields": {"service": "dy"}}}
    )
    server.stop()
    lines = [line for line in server.stderr().splitlines() if line.strip()]
    assert lines
    entries = [json.loads(line) for line in lines]
    assert all(entry["service"] == "dy" for entry in entries)
    assert any("Starting granian" in entry["msg"] for entry in entries)


def test_abandoned_uploads_are_purged(start_dockyard: StartDockyard, tmp_path: Path) -> None:
    server = start_dockyard(
        config_storage={
            "maintenance": {"uploadpurging": {"enabled": True, "age": "3s", "interval": "1s"}}
        }
    )
    started = httpx.post(f"{server.url}/v2/purge/repo/blobs/uploads/")
    location = started.headers["location"]
    upload_id = location.split("?")[0].rsplit("/", 1)[1]
    session = tmp_path / "root/docker/registry/v2/repositories/purge/repo/_uploads" / upload_id
    assert session.is_dir()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and session.exists():
        time.sleep(0.5)
    assert not session.exists()
    gone = httpx.get(location)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


# --- TLS ----------------------------------------------------------------------------------


class Certificates:
    """A throwaway CA with a server certificate for 127.0.0.1 and a client certificate."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._certificate("dockyard test CA", self.ca_key, ca=True)
        self.ca_path = self._write("ca.pem", self.ca.public_bytes(serialization.Encoding.PEM))
        self.server_cert, self.server_key = self._issue("server", ExtendedKeyUsageOID.SERVER_AUTH)
        self.client_cert, self.client_key = self._issue("client", ExtendedKeyUsageOID.CLIENT_AUTH)

    def _certificate(
        self,
        name: str,
        key: ec.EllipticCurvePrivateKey,
        *,
        ca: bool = False,
        usage: x509.ObjectIdentifier | None = None,
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard test CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(self.ca_key if not ca else key, hashes.SHA256())

    def _issue(self, name: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._certificate(name, key, usage=usage)
        cert_path = self._write(f"{name}.pem", certificate.public_bytes(serialization.Encoding.PEM))
        key_path = self._write(
            f"{name}-key.pem",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        return cert_path, key_path

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path

    def client_context(self, *, with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        if with_certificate:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return Certificates(tmp_path / "tls")


def tls_ready(server: ServerProcess, context: ssl.SSLContext) -> httpx.Response:
    return httpx.get(f"https://{server.host}/v2/", verify=context)


def test_tls_serves_https_with_the_configured_certificate(
    start_dockyard: StartDockyard, certificates: Certificates
) -> None:
    server = start_dockyard(
        config_http={
            "tls": {
                "certificate": str(certificates.server_cert),
                "key": str(certificates.server_key),
            }
        },
        tls=certificates.client_context(with_certificate=False),
    )
    response = tls_ready(server, certificates.client_context(with_certificate=False))
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"


def test_tls_with_client_cas_requires_a_client_certificate(
    start_dockyard: StartDockyard, certificates: Certificates
) -> None:
    server = start_dockyard(
        config_http={
            "tls": {
                "certificate": str(certificates.server_cert),
                "key": str(certificates.server_key),
                "clientcas": [str(certificates.ca_path)],
            }
        },
        tls=certificates.client_context(with_certificate=True),
    )
    accepted = tls_ready(server, certificates.client_context(with_certificate=True))
    assert accepted.status_code == 200
    with pytest.raises((httpx.TransportError, ssl.SSLError)):
        tls_ready(server, certificates.client_context(with_certificate=False))


@pytest.fixture
def redis_port(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[int]:
    if not Path("/usr/bin/redis-server").exists():
        pytest.fail(
            "redis-server (Debian package) is missing",
            pytrace=False,
        )
    port = free_port()
    process = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("cache", ["inmemory", "redis"])
def test_blob_descriptor_cache_serves_pushes_and_pulls(
    request: pytest.FixtureRequest,
    start_dockyard: StartDockyard,
    layout: OciLayout,
    tmp_path: Path,
    cache: str,
) -> None:
    config: dict[str, object] = {}
    if cache == "redis":
        config["redis"] = {"addr": f"127.0.0.1:{request.getfixturevalue('redis_port')}"}
    server = start_dockyard(config=config, config_storage={"cache": {"blobdescriptor": cache}})
    image = layout.add_image("v1", layers=2)
    copy(layout.ref("v1"), f"docker://{server.host}/cached/repo:v1")
    copy(f"docker://{server.host}/cached/repo:v1", f"docker://{server.host}/cached/copy:v1")
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{server.host}/cached/copy:v1", pulled.ref("v1"))
    assert pulled.resolve("v1")[0] == image.digest
    if cache == "redis":
        client = redis.Redis(port=request.getfixturevalue("redis_port"))
        assert client.dbsize() > 0  # descriptors were cached there


def test_unix_socket_with_inmemory_storage(tmp_path: Path) -> None:
    # Not under tmp_path: a socket path must stay below ~108 bytes.
    socket_dir = Path(tempfile.mkdtemp(prefix="dy-sock-"))
    socket_path = socket_dir / "dockyard.sock"
    config = tmp_path / "unix.yml"
    config.write_text(
        f"version: 0.1\nstorage: inmemory\nhttp:\n  net: unix\n  addr: {socket_path}\n"
    )
    server = ServerProcess(
        "unix",
        [sys.executable, "-m", "dockyard.cli", "serve", str(config)],
        cwd=tmp_path,
        env=clean_environment(),
        port=0,
    )
    with server.stdout_path.open("ab") as out, server.stderr_path.open("ab") as err:
        server.process = subprocess.Popen(
            server.argv,
            cwd=tmp_path,
            env=server.env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://dockyard"
        )
        deadline = time.monotonic() + 30
        while not socket_path.exists() or "Started worker-1" not in server.stderr():
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.1)
        assert client.get("/v2/").status_code == 200
        pushed = client.post(
            "/v2/mem/repo/blobs/uploads/", params={"digest": sha256(BLOB)}, content=BLOB
        )
        assert pushed.status_code == 201
        assert client.get(f"/v2/mem/repo/blobs/{sha256(BLOB)}").content == BLOB
    finally:
        assert server.stop() == 0
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_relative_urls_leave_scheme_and_host_out_of_locations(
    start_dockyard: StartDockyard,
) -> None:
    server = start_dockyard(config_http={"relativeurls": True})
    started = httpx.post(f"{server.url}/v2/rel/repo/blobs/uploads/")
    assert started.headers["location"].startswith("/v2/rel/repo/blobs/uploads/")
    committed = httpx.put(
        server.url + with_digest(started.headers["location"], sha256(b"r")), content=b"r"
    )
    assert committed.status_code == 201
    assert committed.headers["location"] == f"/v2/rel/repo/blobs/{sha256(b'r')}"
