"""kill -9 under pushing clients: every upload in flight resumes from what was acknowledged.

Clients push blobs in chunks (some closing with a final chunk in the PUT) through a real
``dockyard serve`` on the filesystem driver; the server's whole process group is killed
with SIGKILL at a random moment, then started again on the same root, port and secret.
Each upload that had not been answered 201 must then answer its status with 204 and the
bytes acknowledged (or those of a chunk whose answer was lost), and finish; or, if the
kill cut its closing PUT after the blob was published, 404 ``BLOB_UPLOAD_UNKNOWN`` with
the blob linked in the repository.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from e2e_processes import ServerProcess, StartDockyard

REPOSITORY = "crash/app"
CLIENTS = 8
CYCLES = 3


@dataclass
class Upload:
    """One client's upload as the client knows it."""

    data: bytes
    location: str = ""
    acknowledged: int = 0
    #: Bytes sent in the request that was cut, if that request was a PATCH.
    in_flight: int = 0
    closing: bool = False
    done: bool = False
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = "sha256:" + hashlib.sha256(self.data).hexdigest()


def _push(base: str, rng: random.Random, stop: threading.Event, log: list[Upload]) -> None:
    """Push blobs one after another until the server dies (or ``stop`` is set)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        while not stop.is_set():
            upload = Upload(rng.randbytes(rng.randint(128 << 10, 3 << 20)))
            log.append(upload)
            try:
                started = http.post(f"/v2/{REPOSITORY}/blobs/uploads/")
                if started.status_code != 202:
                    return
                upload.location = started.headers["location"]
                final = rng.randint(0, 64 << 10)
                body_end = len(upload.data) - final
                while upload.acknowledged < body_end:
                    size = min(rng.randint(64 << 10, 1 << 20), body_end - upload.acknowledged)
                    start = upload.acknowledged
                    upload.in_flight = size
                    patched = http.patch(
                        upload.location,
                        content=upload.data[start : start + size],
                        headers={"Content-Range": f"{start}-{start + size - 1}"},
                    )
                    assert patched.status_code == 202, patched.text
                    upload.location = patched.headers["location"]
                    upload.acknowledged += size
                    upload.in_flight = 0
                upload.closing = True
                closed = http.put(
                    _with_digest(upload.location, upload.digest), content=upload.data[body_end:]
                )
                assert closed.status_code == 201, closed.text
                upload.done = True
            except httpx.TransportError:
                return


def _with_digest(location: str, digest: str) -> str:
    """The upload's location (which carries its signed state) with ``digest`` added."""
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def _stored(status: httpx.Response) -> int:
    """The bytes a status answer's ``Range`` reports (``0-0`` for none, as the reference;
    the clients never hold exactly one byte, so it is not ambiguous here)."""
    end = int(status.headers["range"].split("-")[1])
    return end + 1 if end else 0


def _check_and_finish(http: httpx.Client, upload: Upload) -> str:
    """The kill's outcome for one upload ("resumed" or "linked"), asserting the invariant."""
    status = http.get(upload.location)
    if status.status_code == 404:
        assert status.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        assert upload.closing, "only a cut closing PUT may have finished the session"
        linked = http.head(f"/v2/{REPOSITORY}/blobs/{upload.digest}")
        assert linked.status_code == 200, "the session is gone but its blob is not linked"
        return "linked"
    assert status.status_code == 204, status.text
    stored = _stored(status)
    allowed = {upload.acknowledged, upload.acknowledged + upload.in_flight}
    assert stored in allowed, f"range {status.headers['range']}, acknowledged {allowed}"
    location = status.headers["location"]
    rest = upload.data[stored:]
    if rest:
        patched = http.patch(
            location,
            content=rest,
            headers={"Content-Range": f"{stored}-{len(upload.data) - 1}"},
        )
        assert patched.status_code == 202, patched.text
        location = patched.headers["location"]
    closed = http.put(_with_digest(location, upload.digest))
    assert closed.status_code == 201, closed.text
    fetched = http.get(f"/v2/{REPOSITORY}/blobs/{upload.digest}")
    assert hashlib.sha256(fetched.content).hexdigest() == upload.digest.split(":")[1]
    return "resumed"


def test_uploads_cut_by_kill_9_resume_from_what_was_acknowledged_or_are_linked(
    start_dockyard: StartDockyard, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port, root = free_port(), tmp_path / "root"
    env = {"REGISTRY_HTTP_SECRET": secrets.token_hex(16)}
    rng = random.Random(int.from_bytes(os.urandom(4)))
    outcomes: list[str] = []
    for _ in range(CYCLES):
        server: ServerProcess = start_dockyard(root, port=port, env=env)
        log: list[Upload] = []
        stop = threading.Event()
        clients = [
            threading.Thread(
                target=_push, args=(server.url, random.Random(rng.random()), stop, log)
            )
            for _ in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        time.sleep(rng.uniform(0.5, 2.0))
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        stop.set()
        for client in clients:
            client.join()
        server.process = None
        restarted = start_dockyard(root, port=port, env=env)
        with httpx.Client(base_url=restarted.url, timeout=60) as http:
            for upload in log:
                if upload.location and not upload.done:
                    outcomes.append(_check_and_finish(http, upload))
        restarted.stop()
    assert outcomes, "the kills found no upload in flight"
