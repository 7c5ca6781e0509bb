"""The debug listener beside several workers runs in a process of its own, forked before
granian forks the workers; it ends with the server however the server ends."""

from __future__ import annotations

import contextlib
import os
import signal

import httpx
from ops_helpers import Dockyard, StartDockyard, wait_for


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _two_workers_and_their_listener(start_dockyard: StartDockyard) -> tuple[Dockyard, str]:
    """A server of two workers, once its debug listener answers; and the listener's URL."""
    registry = start_dockyard(workers=2)
    livez = f"{registry.debug_url}/livez"
    wait_for(lambda: _answers(livez), 15, "the debug listener to answer")
    return registry, livez


def test_debug_listener_of_several_workers_stops_when_its_server_is_killed(
    start_dockyard: StartDockyard,
) -> None:
    registry, livez = _two_workers_and_their_listener(start_dockyard)
    supervisor = registry.pid
    os.kill(supervisor, signal.SIGKILL)
    try:
        wait_for(lambda: not _answers(livez), 15, "the debug listener to stop")
    finally:
        assert registry.process.process is not None
        registry.process.process.wait()
        registry.process.process = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(supervisor, signal.SIGKILL)


def test_sigterm_stops_the_debug_listener_of_several_workers_with_the_server(
    start_dockyard: StartDockyard,
) -> None:
    registry, livez = _two_workers_and_their_listener(start_dockyard)
    assert registry.process.stop(timeout=15) == 0, registry.process.stderr()
    assert not _answers(livez)
