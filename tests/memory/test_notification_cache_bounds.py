"""The notifier's memos of pulls hold no more memory than their bound, however long the
user agents and host names clients send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retained import released, tracing

from dockyard.config import from_dict
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.notifications import notifier as notifier_module
from dockyard.notifications.events import Source
from dockyard.notifications.notifier import Journal, Notifier
from dockyard.notifications.store import DiskStore

DIGEST = "sha256:" + "ab" * 32


def _notifier(tmp_path: Path) -> tuple[Journal, Notifier]:
    config = from_dict(
        {
            "version": 0.1,
            "storage": {"inmemory": {}},
            "http": {"addr": "127.0.0.1:5000", "secret": "s"},
            "notifications": {"endpoints": [{"name": "e", "url": "http://127.0.0.1:9/"}]},
        }
    )
    journal = Journal(DiskStore(tmp_path), config.notifications.endpoints, Source(5000))
    return journal, Notifier(journal, include_references=False, host=None)


def _scope(agent: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "headers": [(b"host", b"registry.test"), (b"user-agent", agent.encode())],
        "client": ("10.0.0.1", 4000),
    }


def test_pull_memos_hold_no_more_than_their_bytes_bound_with_long_user_agents(
    tmp_path: Path,
) -> None:
    with tracing():
        journal, notifier = _notifier(tmp_path)
        blob = Descriptor("application/octet-stream", Digest.parse(DIGEST), 42)
        for n in range(1500):  # agents of 4 KiB: about three bounds' worth
            pull = ("team/app", blob, None, _scope(f"{n:05}" + "a" * 4096), f"req-{n}")
            journal._encode([(n, pull)])
        memo = notifier._pull_parts
        assert memo.charged_bytes <= notifier_module.PULL_MEMO_BYTES
        held = released(memo.clear)
    assert held <= notifier_module.PULL_MEMO_BYTES
