"""Fixtures of the web interface tests: the whole app in-process (httpx), over the
in-memory driver, with the auth schemes the interface signs users in with."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ui_app import UI, MakeUI
from ui_auth import PASSWORDS, write_htpasswd

from dockyard.assembly import Lifecycle, build_app
from dockyard.config import from_dict

# The end-to-end tests' helpers (server processes, image documents) serve these tests too.
sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))


@pytest.fixture
async def make_ui(tmp_path: Path) -> AsyncIterator[MakeUI]:
    """``await make_ui(auth=…, ui=…, storage=…)``: the whole app built as ``serve`` does."""
    built: list[UI] = []

    async def make(
        auth: dict[str, Any] | None = None,
        ui: dict[str, Any] | None = None,
        delete: bool = True,
        http: dict[str, Any] | None = None,
    ) -> UI:
        tree: dict[str, Any] = {
            "version": 0.1,
            "storage": {"inmemory": {}, "delete": {"enabled": delete}},
            "http": {"secret": "ui-test-secret", **(http or {})},
        }
        if auth is not None:
            tree["auth"] = auth
        if ui is not None:
            tree["ui"] = ui
        app = build_app(from_dict(tree, {}, cwd=tmp_path))
        assert isinstance(app, Lifecycle)
        made = UI(app)
        built.append(made)
        return made

    yield make
    for made in built:
        await made.close()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
