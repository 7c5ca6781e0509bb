"""The processes of the pull-through cache tests: a reference registry as the upstream,
its access log read back to count the requests the mirror sent it."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import yaml

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).parent.parent / "cache"))
sys.path.insert(0, str(Path(__file__).parent.parent / "scaleout"))

import os

from e2e_images import OciLayout
from e2e_processes import (
    DOCKER_REGISTRY,
    ServerProcess,
    clean_environment,
    dockyard_config,
    dockyard_process,
    have,
)
from scaleout_nginx import Balancer

__all__ = [
    "DOCKER_REGISTRY",
    "OciLayout",
    "RateLimiter",
    "ServerProcess",
    "StartMirror",
    "StartUpstream",
    "Throttle",
    "Upstream",
    "clean_environment",
    "dockyard_config",
    "dockyard_process",
    "have",
    "htpasswd",
    "upstream_process",
]


class Upstream(ServerProcess):
    """A reference registry serving as the upstream; its access log is its stdout."""

    def requests(self, method: str, path_pattern: str) -> int:
        """How many requests with ``method`` to a path matching ``path_pattern`` it served."""
        pattern = re.compile(rf'"(?:{method}) ({path_pattern})(\?[^ ]*)? HTTP/1\.1" (\d+)')
        return sum(1 for line in self.stdout().splitlines() if pattern.search(line))


def upstream_process(
    workdir: Path, port: int, *, name: str = "upstream", users: dict[str, str] | None = None
) -> Upstream:
    """A ``docker-registry`` on ``port`` with its access log on, storing in ``workdir/name``
    (not yet started); with ``users`` it requires HTTP Basic."""
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / name)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "upstream-test-secret"},
    }
    if users:
        path = htpasswd(workdir / f"{name}.htpasswd", users)
        config["auth"] = {"htpasswd": {"realm": "upstream", "path": str(path)}}
    config_path = workdir / f"{name}.yml"
    config_path.write_text(yaml.safe_dump(config))
    return Upstream(
        name,
        [DOCKER_REGISTRY, "serve", str(config_path)],
        cwd=workdir,
        env=clean_environment(),
        port=port,
    )


def htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in users.items()
    ]
    path.write_text("".join(lines))
    return path


StartUpstream = Callable[..., Upstream]
StartMirror = Callable[..., ServerProcess]


class RateLimiter(Balancer):
    """nginx in front of an upstream, answering 429 with ``Retry-After`` to every manifest
    request after the first in a minute, as a rate-limited public registry does."""

    manifest_limit = "limit_req zone=manifests nodelay;"
    server_extra = ""
    #: Manifest requests nginx lets through, and the ``Retry-After`` of the others.
    rate = "1r/m"
    retry_after = 30

    def config(self) -> str:
        user = "user root;\n" if os.geteuid() == 0 else ""
        return _RATE_LIMITED.format(
            user=user,
            workdir=self.workdir,
            port=self.port,
            upstream=self.upstreams[0],
            manifest_limit=self.manifest_limit,
            server_extra=self.server_extra,
            rate=self.rate,
            retry_after=self.retry_after,
        )

    def requests(self, pattern: str) -> int:
        """Requests in nginx's access log whose request line matches ``pattern``."""
        log = self.workdir / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return sum(1 for line in lines if re.search(pattern, line))


class Throttle(RateLimiter):
    """nginx in front of an upstream, answering 429 with ``Retry-After: 1`` to manifest
    requests less than half a second apart."""

    rate = "2r/s"
    retry_after = 1


class SlowLink(RateLimiter):
    """nginx in front of an upstream, sending every response at 1 MiB a second."""

    manifest_limit = ""
    server_extra = "limit_rate 1m;"


_RATE_LIMITED = """\
{user}worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    limit_req_zone $server_port zone=manifests:1m rate={rate};
    limit_req_status 429;
    server {{
        listen 127.0.0.1:{port};
        {server_extra}
        location ~ /manifests/ {{
            {manifest_limit}
            add_header Retry-After {retry_after} always;
            proxy_pass http://{upstream};
        }}
        location / {{
            proxy_pass http://{upstream};
        }}
    }}
}}
"""
