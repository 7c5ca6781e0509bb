"""What the scale-out instances share (storage, cache, secret), and killing one of them."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from e2e_processes import ServerProcess
from redis_server import RedisServer
from s3_server import SeaweedFS


def kill(process: ServerProcess) -> None:
    """SIGKILL a server and its workers at once, as a crash or an OOM kill would."""
    assert process.process is not None
    os.killpg(process.process.pid, signal.SIGKILL)
    process.process.wait()
    process.process = None


@dataclass
class Cluster:
    """What the instances share, and a way to start more of them."""

    seaweedfs: SeaweedFS
    redis: RedisServer
    rootdirectory: str
    secret: str
    start_instance: Callable[..., ServerProcess]
    instances: list[ServerProcess] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """The reference's environment variables that configure one instance."""
        return {
            **self.seaweedfs.env(self.rootdirectory),
            "REGISTRY_REDIS_ADDR": self.redis.addr,
            "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "redis",
            "REGISTRY_HTTP_SECRET": self.secret,
            **extra,
        }
