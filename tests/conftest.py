"""Fixtures shared by every test package."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from s3_server import seaweedfs

# One SeaweedFS for the whole session, shared by every package's S3 tests.
__all__ = ["seaweedfs"]

# Property tests assert what is refused or kept, never how fast: on a loaded two-core CI
# machine a per-example deadline only turns scheduling noise into failures.
settings.register_profile("dockyard", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dockyard")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port on 127.0.0.1 that nothing listens on right now."""
    return _free_port
