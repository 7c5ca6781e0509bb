"""``dockyard sync`` as a command against a real upstream registry: which repositories
its ``--prefix`` selects, the pace ``--ratelimit`` keeps, how it meets a source's 429s
and a source cut off mid-blob, and what it shows on a terminal and reports with
``--json``."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from e2e_images import Image, OciLayout
from e2e_processes import DOCKER_REGISTRY, clean_environment, copy, have
from proxy_processes import SlowLink, Throttle, Upstream, upstream_process
from sync_commands import dockyard, registry_config

#: Every request line in the reference registry's access log, with its time.
_ACCESS = re.compile(r'\[([^\]]+)\] "(GET|HEAD) (\S+) HTTP/1\.1"')


@pytest.fixture
def upstream(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Upstream]:
    """A ``docker-registry`` with its access log on."""
    if not have(DOCKER_REGISTRY):
        pytest.fail("docker-registry (Debian package) is missing", pytrace=False)
    process = upstream_process(tmp_path, free_port())
    process.start()
    yield process
    process.stop()


def push_images(tmp_path: Path, upstream: Upstream, *repositories: str) -> Image:
    """One image of two layers, pushed as ``v1`` of each repository."""
    source = OciLayout(tmp_path / "source")
    image = source.add_image("v1", layers=2)
    for repository in repositories:
        copy(source.ref("v1"), f"docker://{upstream.host}/{repository}:v1")
    return image


def on_a_terminal(*args: str | Path, stdout_too: bool = True) -> tuple[str, str]:
    """Run ``dockyard`` with stderr (and, with ``stdout_too``, stdout) on a pseudo-terminal;
    returns what the terminal showed and what went to stdout otherwise."""
    leader, follower = pty.openpty()
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        process = subprocess.run(
            [sys.executable, "-m", "dockyard.cli", *map(str, args)],
            stdout=follower if stdout_too else subprocess.PIPE,
            stderr=follower,
            env=clean_environment(),
            timeout=120,
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(10)
        os.close(leader)
    terminal = shown.decode(errors="replace")
    assert process.returncode == 0, terminal
    return terminal, (process.stdout or b"").decode()


def test_sync_with_a_prefix_copies_only_the_repositories_below_it(
    tmp_path: Path, upstream: Upstream
) -> None:
    push_images(tmp_path, upstream, "team/app", "team/web", "teamwork/app", "other/app")
    config = registry_config(tmp_path, "local")

    result = dockyard("sync", "--from", upstream.url, "--prefix", "team", "--json", "-c", config)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tags_copied"] == ["team/app:v1", "team/web:v1"]


def test_sync_with_a_ratelimit_spaces_its_requests_to_the_source(
    tmp_path: Path, upstream: Upstream
) -> None:
    push_images(tmp_path, upstream, "team/app", "team/web")
    before = len(upstream.stdout().splitlines())
    config = registry_config(tmp_path, "local")
    rate = 3

    result = dockyard("sync", "--from", upstream.url, "--ratelimit", str(rate), "-c", config)

    assert result.returncode == 0, result.stderr
    times = [
        datetime.strptime(match.group(1), "%d/%b/%Y:%H:%M:%S %z")
        for line in upstream.stdout().splitlines()[before:]
        if (match := _ACCESS.search(line))
    ]
    assert len(times) >= 10
    # The log counts whole seconds: the first and the last request may be a second closer.
    assert (max(times) - min(times)).total_seconds() >= (len(times) - 1) / rate - 1


def test_sync_waits_out_a_sources_429_and_copies_everything(
    tmp_path: Path, upstream: Upstream, free_port: Callable[[], int]
) -> None:
    push_images(tmp_path, upstream, "team/app", "team/web")
    throttle = Throttle(tmp_path / "nginx", free_port(), [upstream.host]).start()
    try:
        config = registry_config(tmp_path, "local")
        result = dockyard("sync", "--from", throttle.url, "--json", "-c", config)
    finally:
        throttle.stop()

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tags_copied"] == ["team/app:v1", "team/web:v1"]
    assert throttle.requests(r'/manifests/[^ ]* HTTP/1\.1" 429 ') >= 1


def test_sync_cut_off_in_the_middle_of_a_blob_fails_with_a_message_not_a_traceback(
    tmp_path: Path, upstream: Upstream, free_port: Callable[[], int]
) -> None:
    source = OciLayout(tmp_path / "source")
    source.add_image("v1", layers=1, layer_size=8 << 20)
    copy(source.ref("v1"), f"docker://{upstream.host}/team/app:v1")
    slow = SlowLink(tmp_path / "nginx", free_port(), [upstream.host]).start()
    config = registry_config(tmp_path, "local")
    uploads = tmp_path / "local-root/docker/registry/v2/repositories/team/app/_uploads"
    command = [sys.executable, "-m", "dockyard.cli", "sync", "--from", slow.url, "-c", config]
    sync = subprocess.Popen(
        list(map(str, command)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )
    try:
        deadline = time.monotonic() + 60
        # Cut the source off once the first bytes of the layer are written here.
        while not any(f.stat().st_size for f in uploads.glob("*/data*")):
            assert sync.poll() is None, sync.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _kill_with_its_workers(slow.process)
        _, stderr = sync.communicate(timeout=60)
    finally:
        sync.kill()
        slow.stop()

    assert sync.returncode == 1
    assert "Traceback" not in stderr
    assert "dockyard: upstream source is unreachable" in stderr


def _kill_with_its_workers(process: subprocess.Popen[bytes] | None) -> None:
    """Kill nginx's master ``process`` and its workers at once: no request ends cleanly."""
    assert process is not None
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)
    process.kill()
    process.wait()


def test_sync_draws_each_blob_it_copies_on_a_terminal(tmp_path: Path, upstream: Upstream) -> None:
    image = push_images(tmp_path, upstream, "team/app")
    config = registry_config(tmp_path, "local")

    shown, _ = on_a_terminal("sync", "--from", upstream.url, "-c", config)

    assert f"team/app:v1 {image.digest}" in shown
    for layer, data in image.blobs.items():
        assert f"team/app: {layer} ({len(data)} bytes)" in shown
        assert f"team/app: {layer} {len(data) / (1 << 20):.1f}/" in shown
    assert "synced 1 tag(s) (0 already current): 1 manifest(s), 3 blob(s)" in shown


def test_sync_with_json_reports_json_on_stdout_and_progress_on_the_terminal(
    tmp_path: Path, upstream: Upstream
) -> None:
    image = push_images(tmp_path, upstream, "team/app")
    config = registry_config(tmp_path, "local")

    shown, report = on_a_terminal(
        "sync", "--from", upstream.url, "--json", "-c", config, stdout_too=False
    )

    assert json.loads(report)["tags_copied"] == ["team/app:v1"]
    assert json.loads(report)["blobs"] == 3
    assert f"team/app:v1 {image.digest}" in shown
    assert "{" not in shown


def test_sync_shows_no_progress_when_stderr_is_not_a_terminal(
    tmp_path: Path, upstream: Upstream
) -> None:
    push_images(tmp_path, upstream, "team/app")
    config = registry_config(tmp_path, "local")

    result = dockyard("sync", "--from", upstream.url, "-c", config)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[0].startswith("team/app:v1 sha256:")
