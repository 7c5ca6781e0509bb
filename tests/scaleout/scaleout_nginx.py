"""nginx (Debian ``nginx-light``) as a round-robin load balancer in front of registry
instances, started from a config of its own in a temporary folder on a free port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

NGINX = "/usr/sbin/nginx"
_START_TIMEOUT = 15.0

_CONFIG = """\
{user}worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    upstream dockyard {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_read_timeout 600s;
        proxy_send_timeout 600s;
        location / {{
            proxy_pass http://dockyard;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx executable, or None when it is not installed."""
    if Path(NGINX).exists():
        return NGINX
    return shutil.which("nginx")


class Balancer:
    """An nginx process balancing round-robin over ``upstreams`` (``host:port`` each)."""

    def __init__(self, workdir: Path, port: int, upstreams: list[str]) -> None:
        self.workdir = workdir
        self.port = port
        self.upstreams = upstreams
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def config(self) -> str:
        # As root, nginx's workers would otherwise switch to "nobody", who cannot write
        # to the test's temporary folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        servers = "\n".join(
            f"        server {upstream} max_fails=0;" for upstream in self.upstreams
        )
        return _CONFIG.format(user=user, workdir=self.workdir, port=self.port, servers=servers)

    def start(self) -> Balancer:
        binary = nginx_binary()
        assert binary is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "nginx.conf"
        path.write_text(self.config())
        output = (self.workdir / "nginx.out").open("ab")
        with output:
            self.process = subprocess.Popen(
                [binary, "-c", str(path), "-p", str(self.workdir), "-e", "stderr"],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited:\n" + self.log())
            try:
                httpx.get(f"{self.url}/v2/", timeout=2)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nginx did not answer:\n" + self.log()) from None
                time.sleep(0.1)

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def log(self) -> str:
        parts = []
        for name in ("nginx.out", "error.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)
