"""dockyard's pytest plugin: the ``registry`` and ``registry_factory`` fixtures.

Registered through the ``pytest11`` entry point, so it loads in every pytest run of an
environment where dockyard is installed. It therefore only defines fixtures: no hooks,
no options, and nothing is imported until a test asks for a registry (``-p no:dockyard``
turns it off altogether).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dockyard.testing.registry import Registry


@pytest.fixture
def registry_factory() -> Iterator[Callable[..., Registry]]:
    """Start registries with ``Registry``'s options; each stops when the test ends.

    ``registry_factory(auth="token", users={"alice": "secret"}, storage="filesystem")``
    """
    from dockyard.testing.registry import Registry

    started: list[Registry] = []

    def start(**options: Any) -> Registry:
        registry = Registry(**options)
        started.append(registry)
        return registry.start()

    yield start
    for registry in reversed(started):
        registry.stop()


@pytest.fixture
def registry(registry_factory: Callable[..., Registry]) -> Registry:
    """A fresh, empty registry for this test: in-memory storage, no auth, plain HTTP."""
    return registry_factory()
